"""The CDK app: ``cdk synth`` / ``cdk deploy`` (``cdk.json`` runs ``python -m infra.app``).

Two stacks per stage: ``<prefix>-<stage>-data`` (tables and secrets, kept) and
``<prefix>-<stage>-service`` (everything else, disposable). cdk-nag's AWS Solutions rules
run on every synth; an unacknowledged finding fails it.

Context: ``-c stage=dev|prod`` (default dev), ``-c overrides='{json}'`` (any StageConfig
field), ``-c account=`` / ``-c region=`` (else the CLI's ``CDK_DEFAULT_*``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks

from infra.bundling import lambda_code
from infra.config import StageConfig, load_stage
from infra.nag import acknowledge_data, acknowledge_service
from infra.stacks.data import DataStack
from infra.stacks.service import ServiceStack

ROOT = Path(__file__).resolve().parent.parent


def build(
    app: cdk.App, config: StageConfig, env: cdk.Environment | None = None
) -> dict[str, cdk.Stack]:
    """Both stacks of one stage, with their nag acknowledgements, on ``app``."""
    name = f"{config.prefix}-{config.stage}"
    data = DataStack(
        app, f"{name}-data", config=config, env=env, termination_protection=config.stage == "prod"
    )
    service = ServiceStack(
        app, f"{name}-service", config=config, data=data, code=lambda_code(ROOT, config), env=env
    )
    for stack in (data, service):
        cdk.Tags.of(stack).add("project", "orchestra")
        cdk.Tags.of(stack).add("stage", config.stage)
    acknowledge_data(data)
    acknowledge_service(service)
    return {"data": data, "service": service}


def main(context: dict[str, Any] | None = None, outdir: str | None = None) -> cdk.App:
    # cross-stack references (data -> service) kept strong: the data stack cannot drop an
    # export the service stack still uses
    defaults = {"@aws-cdk/core:defaultCrossStackReferences": "strong"}
    app = cdk.App(context={**defaults, **(context or {})}, outdir=outdir)
    config = load_stage(
        str(app.node.try_get_context("stage") or "dev"), app.node.try_get_context("overrides")
    )
    env = cdk.Environment(
        account=app.node.try_get_context("account") or os.environ.get("CDK_DEFAULT_ACCOUNT"),
        region=app.node.try_get_context("region") or os.environ.get("CDK_DEFAULT_REGION"),
    )
    build(app, config, env)
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))  # type: ignore[attr-defined]
    return app


if __name__ == "__main__":
    main().synth()
