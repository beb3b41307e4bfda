"""The debate state machine (Standard), from the one definition in ``orchestra.debate``."""

from __future__ import annotations

import json

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_stepfunctions as sfn

from constructs import Construct
from infra.config import StageConfig
from infra.constructs.function import retention
from orchestra.debate.machine import STEPS_ARN, definition


class DebateMachine(Construct):
    """Logging ALL (with execution data: payloads are references, never transcripts) and
    X-Ray; every run shows in the Step Functions console under ``<prefix>-<stage>-debate``."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StageConfig,
        steps: lambda_.IFunction,
    ) -> None:
        super().__init__(scope, construct_id)
        self.log_group = logs.LogGroup(
            self,
            "Logs",
            # the /aws/vendedlogs/ prefix keeps the logs resource policy small
            log_group_name=f"/aws/vendedlogs/states/{config.prefix}-{config.stage}-debate",
            retention=retention(config.log_retention_days),
            removal_policy=RemovalPolicy.RETAIN if config.retain_logs else RemovalPolicy.DESTROY,
        )
        body = definition(turn_timeout_s=config.debate_turn_timeout_s)
        self.state_machine = sfn.StateMachine(
            self,
            "StateMachine",
            state_machine_name=f"{config.prefix}-{config.stage}-debate",
            state_machine_type=sfn.StateMachineType.STANDARD,
            definition_body=sfn.DefinitionBody.from_string(json.dumps(body)),
            definition_substitutions={STEPS_ARN: steps.function_arn},
            logs=sfn.LogOptions(
                destination=self.log_group, level=sfn.LogLevel.ALL, include_execution_data=True
            ),
            tracing_enabled=True,
            timeout=Duration.hours(2),
        )
        steps.grant_invoke(self.state_machine)
