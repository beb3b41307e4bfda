"""Functions built one way (runtime, arch, logs, SnapStart) and least-privilege IAM."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from infra.config import (
    ALL_FUNCTIONS,
    API_FUNCTIONS,
    IDLE_TIMEOUT_S,
    STREAMING_FUNCTIONS,
    load_stage,
)

from support.cdk_synth import ROOT, Synth, as_list, of_type, role_policy, statements

pytestmark = pytest.mark.slow


def test_every_function_is_built_the_same_way(dev: Synth) -> None:
    functions = of_type(dev.json("service"), "AWS::Lambda::Function")
    assert len(functions) == len(ALL_FUNCTIONS)
    handlers = set()
    for fn in functions.values():
        props = fn["Properties"]
        assert props["Runtime"] == "python3.13"
        assert props["Architectures"] == ["arm64"]
        assert props["TracingConfig"] == {"Mode": "Active"}
        env = props["Environment"]["Variables"]
        assert env["ORCHESTRA_MODE"] == "aws"
        assert env["POWERTOOLS_METRICS_NAMESPACE"] == "Orchestra"
        assert env["POWERTOOLS_SERVICE_NAME"].startswith("orchestra-")
        assert "LogGroup" in props["LoggingConfig"]
        handlers.add(props["Handler"])
    assert handlers == {f"functions.{name}.handler.handler" for name in ALL_FUNCTIONS}
    for name in ALL_FUNCTIONS:  # each handler string points at a real file and function
        source = (ROOT / "functions" / name / "handler.py").read_text()
        assert re.search(r"^(handler = |def handler\()", source, re.MULTILINE), name


def test_sizing_comes_from_the_stage_config(dev: Synth) -> None:
    config = load_stage("dev")
    functions = of_type(dev.json("service"), "AWS::Lambda::Function").values()
    by_handler = {f["Properties"]["Handler"].split(".")[1]: f["Properties"] for f in functions}
    for name in ALL_FUNCTIONS:
        assert by_handler[name]["MemorySize"] == config.sizing(name).memory_mb
        assert by_handler[name]["Timeout"] == config.function_timeout_s(name)


def test_streaming_functions_run_the_streaming_runtime_with_consistent_timeouts(
    dev: Synth,
) -> None:
    # Given the dev stage (request_timeout_s 300)
    config = load_stage("dev")
    functions = of_type(dev.json("service"), "AWS::Lambda::Function").values()
    by_handler = {f["Properties"]["Handler"].split(".")[1]: f["Properties"] for f in functions}
    for name in ALL_FUNCTIONS:
        env = by_handler[name]["Environment"]["Variables"]
        if name not in STREAMING_FUNCTIONS:  # the managed runtime's own client
            assert "AWS_LAMBDA_EXEC_WRAPPER" not in env, name
            continue
        # Then generate and multi-generate start the streaming runtime from the bundle
        assert env["AWS_LAMBDA_EXEC_WRAPPER"] == "/var/task/functions/stream_runtime"
        assert (ROOT / "functions" / "stream_runtime").stat().st_mode & 0o111
        # And function timeout > integration timeout > request deadlines
        timeout = by_handler[name]["Timeout"]
        stream_deadline = float(env["ORCHESTRA_REQUEST_DEADLINE_S"])
        buffered_deadline = float(env["ORCHESTRA_BUFFERED_DEADLINE_S"])
        assert timeout == 305 > config.request_timeout_s == 300
        assert config.request_timeout_s > stream_deadline >= buffered_deadline
        assert buffered_deadline <= IDLE_TIMEOUT_S - 5  # answers sent whole: the idle timeout
        assert 0 < float(env["ORCHESTRA_STREAM_KEEPALIVE_S"]) < 30  # below every idle timeout


def test_timeouts_follow_a_longer_request_limit_and_refuse_inconsistent_ones() -> None:
    config = load_stage("prod", {"request_timeout_s": 895})
    assert config.function_timeout_s("generate") == 900
    assert config.stream_deadline_s == 890 and config.buffered_deadline_s == IDLE_TIMEOUT_S - 5
    with pytest.raises(ValueError, match="request_timeout_s"):
        load_stage("dev", {"request_timeout_s": 896})
    with pytest.raises(ValueError, match=r"functions.generate.timeout_s must cover"):
        load_stage(
            "dev",
            {"functions": {**_sizing_dump(), "generate": {"memory_mb": 1024, "timeout_s": 29}}},
        )


def test_reserved_concurrency_is_configurable(tmp_path: Path) -> None:
    import aws_cdk as cdk
    from aws_cdk.assertions import Template
    from infra.app import build

    config = load_stage(
        "dev",
        {
            "functions": {
                **_sizing_dump(),
                "generate": {"memory_mb": 2048, "reserved_concurrency": 40},
            }
        },
    )
    app = cdk.App(context={"aws:cdk:bundling-stacks": []}, outdir=str(tmp_path))
    stacks = build(app, config)
    template = Template.from_stack(stacks["service"])
    template.has_resource_properties(
        "AWS::Lambda::Function",
        {
            "Handler": "functions.generate.handler.handler",
            "MemorySize": 2048,
            "ReservedConcurrentExecutions": 40,
        },
    )


def _sizing_dump() -> dict[str, Any]:
    return {k: v.model_dump() for k, v in load_stage("dev").functions.items()}


def test_log_groups_have_retention(dev: Synth, prod: Synth) -> None:
    for synthesized, days, policy in ((dev, 14, "Delete"), (prod, 90, "Retain")):
        groups = of_type(synthesized.json("service"), "AWS::Logs::LogGroup")
        assert len(groups) == len(ALL_FUNCTIONS) + 4  # + API access logs + 3 state machines
        for group in groups.values():
            assert group["Properties"]["RetentionInDays"] == days
            assert group["DeletionPolicy"] == policy


def test_api_functions_use_snapstart_behind_a_live_alias(dev: Synth) -> None:
    template = dev.json("service")
    functions = of_type(template, "AWS::Lambda::Function")
    snap = {
        f["Properties"]["Handler"].split(".")[1]
        for f in functions.values()
        if f["Properties"].get("SnapStart") == {"ApplyOn": "PublishedVersions"}
    }
    assert snap == {*API_FUNCTIONS, "authorizer"}
    aliases = of_type(template, "AWS::Lambda::Alias")
    assert len(aliases) == len(snap)
    assert {a["Properties"]["Name"] for a in aliases.values()} == {"live"}
    # API Gateway invokes the aliases, never $LATEST
    alias_ids = set(aliases)
    for method in of_type(template, "AWS::ApiGateway::Method").values():
        uri = json.dumps(method["Properties"]["Integration"]["Uri"])
        assert any(alias in uri for alias in alias_ids), uri


# --- IAM --------------------------------------------------------------------------------


def test_no_wildcard_actions_anywhere(dev: Synth, prod: Synth) -> None:
    for synthesized in (dev, prod):
        for stack in ("data", "service"):
            for name, statement in statements(synthesized.json(stack)):
                for action in as_list(statement["Action"]):
                    assert action != "*" and not action.endswith(":*"), (name, action)


def test_wildcard_resources_only_for_xray_and_log_delivery(dev: Synth) -> None:
    allowed = {
        "xray:",
        "logs:CreateLogDelivery",
        "logs:GetLogDelivery",
        "logs:UpdateLogDelivery",
        "logs:DeleteLogDelivery",
        "logs:ListLogDeliveries",
        "logs:PutResourcePolicy",
        "logs:DescribeResourcePolicies",
        "logs:DescribeLogGroups",
    }
    for name, statement in statements(dev.json("service")):
        if "*" in as_list(statement["Resource"]):
            for action in as_list(statement["Action"]):
                assert any(action.startswith(a) for a in allowed), (name, action)


def _dynamodb_actions(granted: list[dict[str, Any]]) -> set[str]:
    return {a for s in granted for a in as_list(s["Action"]) if a.startswith("dynamodb:")}


@pytest.mark.parametrize(
    ("role", "expected"),
    [
        (
            "GenerateRole",
            {
                "dynamodb:Scan",
                "dynamodb:GetItem",
                "dynamodb:BatchGetItem",
                "dynamodb:PutItem",
                "dynamodb:UpdateItem",
                "dynamodb:Query",
            },
        ),
        ("AuthorizerRole", set()),
        (
            "DebateApiRole",
            {
                "dynamodb:Scan",
                "dynamodb:GetItem",
                "dynamodb:BatchGetItem",
                "dynamodb:PutItem",
                "dynamodb:Query",
            },
        ),
        (
            "DebateStepsRole",
            {
                "dynamodb:Scan",
                "dynamodb:GetItem",
                "dynamodb:BatchGetItem",
                "dynamodb:PutItem",
                "dynamodb:UpdateItem",
                "dynamodb:Query",
            },
        ),
        (
            "SyncRole",
            {"dynamodb:Scan", "dynamodb:PutItem", "dynamodb:UpdateItem"},
        ),
        (
            "AdminRole",  # policies (governance table), spend rows (metrics table: Query)
            {
                "dynamodb:GetItem",
                "dynamodb:PutItem",
                "dynamodb:DeleteItem",
                "dynamodb:Query",
                "dynamodb:Scan",
            },
        ),
    ],
)
def test_each_role_gets_exactly_its_dynamodb_actions(
    dev: Synth, role: str, expected: set[str]
) -> None:
    granted = role_policy(dev.json("service"), role)
    assert _dynamodb_actions(granted) == expected
    for statement in granted:  # only the admin deletes (a revoked key's policy)
        if role != "AdminRole":
            assert "dynamodb:DeleteItem" not in as_list(statement["Action"])


def test_generate_keeps_responses_in_their_table(dev: Synth) -> None:
    # Given the service stack, When synthesized, Then generate learns the responses table
    functions = of_type(dev.json("service"), "AWS::Lambda::Function").values()
    by_handler = {f["Properties"]["Handler"].split(".")[1]: f["Properties"] for f in functions}
    for name, props in by_handler.items():
        env = props["Environment"]["Variables"]
        assert ("ORCHESTRA_RESPONSES_TABLE" in env) == (name == "generate"), name
    assert "ResponsesTable" in json.dumps(
        by_handler["generate"]["Environment"]["Variables"]["ORCHESTRA_RESPONSES_TABLE"]
    )


def test_secrets_are_readable_by_exactly_who_needs_them(dev: Synth) -> None:
    template = dev.json("service")
    readers: dict[str, set[str]] = {}
    for name, policy in of_type(template, "AWS::IAM::Policy").items():
        text = json.dumps(policy["Properties"]["PolicyDocument"])
        if "secretsmanager:GetSecretValue" in text:
            for secret in ("ClientKeys", "ProviderKeys"):
                if secret in text:
                    readers.setdefault(secret, set()).add(name.split("Role")[0])
    # the authorizer checks client keys; the admin function issues and revokes them
    assert readers["ClientKeys"] == {"Authorizer", "Admin"}
    assert readers["ProviderKeys"] == {
        "Generate",
        "MultiGenerate",
        "DebateApi",
        "DebateSteps",
        "Sync",
        "WorkflowsApi",
        "ChainSteps",
        "BatchSteps",
    }


def test_debate_api_may_start_only_its_own_state_machine(dev: Synth) -> None:
    granted = role_policy(dev.json("service"), "DebateApiRole")
    start = [s for s in granted if "states:StartExecution" in as_list(s["Action"])]
    assert len(start) == 1
    assert "DebateStateMachine" in json.dumps(start[0]["Resource"])


def test_a_providers_file_reaches_the_model_callers_validated(tmp_path: Path) -> None:
    import aws_cdk as cdk
    from aws_cdk.assertions import Template
    from infra.app import build

    # Given a stage with a providers file (a second OpenAI key as a deployment of gpt-4o)
    path = tmp_path / "orchestra.yaml"
    path.write_text(
        "providers:\n  - {name: openai-2, type: openai, api_key_env: OPENAI_API_KEY_2}\n"
    )
    config = load_stage("dev", {"providers_file": str(path)})
    app = cdk.App(context={"aws:cdk:bundling-stacks": []}, outdir=str(tmp_path / "out"))

    # When the service stack is synthesized
    functions = of_type(
        Template.from_stack(build(app, config)["service"]).to_json(), "AWS::Lambda::Function"
    )

    # Then every function that builds a catalog (and only those) reads it from its environment
    shipped = {
        props["Properties"]["Handler"].split(".")[1]: props["Properties"]["Environment"][
            "Variables"
        ].get("ORCHESTRA_CONFIG_JSON")
        for props in functions.values()
        if "Handler" in props["Properties"]
    }
    with_file = {name for name, value in shipped.items() if value}
    # (the workflows API prices chains against the catalog the file extends)
    callers = {"generate", "multi_generate", "debate_steps", "chain_steps", "batch_steps"}
    assert with_file == {*callers, "workflows_api"}
    assert json.loads(shipped["generate"]) == {
        "providers": [{"name": "openai-2", "type": "openai", "api_key_env": "OPENAI_API_KEY_2"}]
    }


def test_an_invalid_providers_file_stops_the_synth(tmp_path: Path) -> None:
    import aws_cdk as cdk
    from infra.app import build

    from orchestra.errors import InvalidRequest

    path = tmp_path / "orchestra.yaml"
    path.write_text("providers:\n  - {name: x, type: nope}\n")
    config = load_stage("dev", {"providers_file": str(path)})
    app = cdk.App(context={"aws:cdk:bundling-stacks": []}, outdir=str(tmp_path / "out"))
    with pytest.raises(InvalidRequest, match="providers file"):
        build(app, config)
