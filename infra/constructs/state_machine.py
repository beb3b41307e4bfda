"""The set-up every Orchestra state machine shares (debate, chain, batch): a Standard
machine named ``<prefix>-<stage>-<name>``, its log group, logging ALL and X-Ray.

Written once so the three cannot drift apart (a machine without execution data in its
logs, or without tracing, is one nobody can debug from the console). Each machine's
construct keeps its own definition, substitutions, timeout and grants.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_logs as logs
from aws_cdk import aws_stepfunctions as sfn

from constructs import Construct
from infra.config import StageConfig
from infra.constructs.function import retention


def standard_machine(
    scope: Construct,
    *,
    config: StageConfig,
    name: str,
    body: Mapping[str, Any],
    substitutions: Mapping[str, str],
    timeout: Duration,
) -> tuple[sfn.StateMachine, logs.LogGroup]:
    """A Standard machine named ``<prefix>-<stage>-<name>`` (children ``Logs`` and
    ``StateMachine`` of ``scope``: their logical ids), logging ALL with execution data
    (payloads are references: ids, cursors, byte ranges; never prompts or answers) and
    X-Ray, so every step shows in the console with its input and output."""
    log_group = logs.LogGroup(
        scope,
        "Logs",
        # the /aws/vendedlogs/ prefix keeps the logs resource policy small
        log_group_name=f"/aws/vendedlogs/states/{machine_name(config, name)}",
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
