"""The generic chain state machine (Standard): one for every chain, from the one definition
in ``orchestra.chain.machine``; each run is one execution walking the stored chain."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_stepfunctions as sfn

from constructs import Construct
from infra.config import StageConfig
from infra.constructs.function import retention
from orchestra.chain.machine import STEPS_ARN, definition


def standard_machine(
    scope: Construct,
    *,
    config: StageConfig,
    name: str,
    body: Mapping[str, Any],
    substitutions: Mapping[str, str],
    timeout: Duration,
) -> tuple[sfn.StateMachine, logs.LogGroup]:
    """A Standard machine named ``<prefix>-<stage>-<name>``, logging ALL with execution
    data (payloads are references: ids, cursors, byte ranges; never prompts or answers)
    and X-Ray, so every step shows in the console with its input and output."""
    log_group = logs.LogGroup(
        scope,
        "Logs",
        # the /aws/vendedlogs/ prefix keeps the logs resource policy small
        log_group_name=f"/aws/vendedlogs/states/{config.prefix}-{config.stage}-{name}",
        retention=retention(config.log_retention_days),
        removal_policy=RemovalPolicy.RETAIN if config.retain_logs else RemovalPolicy.DESTROY,
    )
    machine = sfn.StateMachine(
        scope,
        "StateMachine",
        state_machine_name=machine_name(config, name),
        state_machine_type=sfn.StateMachineType.STANDARD,
        definition_body=sfn.DefinitionBody.from_string(json.dumps(body)),
        definition_substitutions=dict(substitutions),
        logs=sfn.LogOptions(
            destination=log_group, level=sfn.LogLevel.ALL, include_execution_data=True
        ),
        tracing_enabled=True,
        timeout=timeout,
    )
    return machine, log_group


def machine_name(config: StageConfig, name: str) -> str:
    """The state machine's name: known before it exists, so policies (its own role's
    included) can name its ARN without a circular reference."""
    return f"{config.prefix}-{config.stage}-{name}"


class ChainMachine(Construct):
    """Next -> Run | Map of Run -> Join -> ... -> Finish, each a ``chain_steps`` task."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StageConfig,
        steps: lambda_.IFunction,
    ) -> None:
        super().__init__(scope, construct_id)
        body = definition(
            step_timeout_s=config.chain_step_timeout_s,
            max_concurrency=config.chain_max_concurrency,
        )
        self.state_machine, self.log_group = standard_machine(
            self,
            config=config,
            name="chain",
            body=body,
            substitutions={STEPS_ARN: steps.function_arn},
            timeout=Duration.hours(6),
        )
        steps.grant_invoke(self.state_machine)
