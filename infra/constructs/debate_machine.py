"""The debate state machine (Standard), from the one definition in ``orchestra.debate``."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_lambda as lambda_

from constructs import Construct
from infra.config import StageConfig
from infra.constructs.state_machine import standard_machine
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
        body = definition(turn_timeout_s=config.debate_turn_timeout_s)
        self.state_machine, self.log_group = standard_machine(
            self,
            config=config,
            name="debate",
            body=body,
            substitutions={STEPS_ARN: steps.function_arn},
            timeout=Duration.hours(2),
        )
        steps.grant_invoke(self.state_machine)
