"""Synthesize the CDK app once per stage for the infrastructure tests (no bundling, no AWS)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
os.environ.setdefault("JSII_SILENCE_WARNING_UNTESTED_NODE_VERSION", "1")

ROOT = Path(__file__).resolve().parents[2]
ACCOUNT, REGION = "123456789012", "eu-west-1"


@dataclass
class Synth:
    outdir: Path
    stacks: dict[str, Any]  # "data"/"service" -> aws_cdk.Stack
    templates: dict[str, Any]  # "data"/"service" -> aws_cdk.assertions.Template

    def json(self, which: str) -> dict[str, Any]:
        return self.templates[which].to_json()  # type: ignore[no-any-return]

    def report(self) -> dict[str, Any]:
        return json.loads((self.outdir / "validation-report.json").read_text())  # type: ignore[no-any-return]


@cache
def synth(stage: str, outdir: str) -> Synth:
    """Both stacks of ``stage`` through ``infra.app.main`` (cdk-nag on, bundling skipped)."""
    from aws_cdk.assertions import Template
    from infra.app import main

    context = {"stage": stage, "account": ACCOUNT, "region": REGION, "aws:cdk:bundling-stacks": []}
    app = main(context, outdir=outdir)
    app.synth()  # raises if an unacknowledged cdk-nag finding remains
    stacks = {
        kind: app.node.find_child(f"Orchestra-{stage}-{kind}") for kind in ("data", "service")
    }
    templates = {kind: Template.from_stack(stack) for kind, stack in stacks.items()}  # type: ignore[arg-type]
    return Synth(Path(outdir), stacks, templates)


def of_type(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == kind}


def statements(template: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    out = []
    for name, policy in of_type(template, "AWS::IAM::Policy").items():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            out.append((name, statement))
    return out


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def role_policy(template: dict[str, Any], role_prefix: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for policy in of_type(template, "AWS::IAM::Policy").values():
        roles = json.dumps(policy["Properties"]["Roles"])
        if f'"{role_prefix}' in roles:
            found += policy["Properties"]["PolicyDocument"]["Statement"]
    return found


def methods_by_route(template: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    """Each API method's properties by (verb, full path), the path rebuilt from its
    resources' parents."""
    resources = of_type(template, "AWS::ApiGateway::Resource")

    def path(ref: Any) -> str:
        if not isinstance(ref, dict) or "Ref" not in ref:
            return ""
        props = resources[ref["Ref"]]["Properties"]
        return f"{path(props['ParentId'])}/{props['PathPart']}"

    methods = of_type(template, "AWS::ApiGateway::Method").values()
    return {
        (m["Properties"]["HttpMethod"], path(m["Properties"]["ResourceId"]) or "/"): m["Properties"]
        for m in methods
    }
