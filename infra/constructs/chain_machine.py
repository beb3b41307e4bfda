"""The generic chain state machine (Standard): one for every chain, from the one definition
in ``orchestra.chain.machine``; each run is one execution walking the stored chain."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_lambda as lambda_

from constructs import Construct
from infra.config import StageConfig
from infra.constructs.state_machine import standard_machine
from orchestra.chain.machine import STEPS_ARN, definition


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
