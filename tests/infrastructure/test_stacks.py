"""The CDK app synthesized offline and asserted: resources, least-privilege IAM, routes,
authorizer, state machine, schedules, alarms; cdk-nag clean; cfn-lint clean."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from aws_cdk.assertions import Match
from infra.config import ALL_FUNCTIONS, API_FUNCTIONS, load_stage
from infra.constructs.api import BEARER, ROUTES
from infra.constructs.schedules import SYNC_SCHEDULES

from orchestra.api.gateway_responses import GATEWAY_RESPONSES
from orchestra.debate.machine import STEPS_ARN, definition
from orchestra.storage.tables import ALL_TABLES

from support.cdk_synth import ROOT, Synth, synth

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def dev(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    return synth("dev", str(tmp_path_factory.mktemp("cdk-dev")))


@pytest.fixture(scope="module")
def prod(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    return synth("prod", str(tmp_path_factory.mktemp("cdk-prod")))


def _of_type(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == kind}


def _statements(template: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    out = []
    for name, policy in _of_type(template, "AWS::IAM::Policy").items():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            out.append((name, statement))
    return out


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


# --- the stateful stack ---------------------------------------------------------------


def test_tables_are_built_from_the_core_specs(dev: Synth) -> None:
    tables = _of_type(dev.json("data"), "AWS::DynamoDB::Table")
    assert len(tables) == len(ALL_TABLES)
    by_schema = {
        json.dumps(t["Properties"]["KeySchema"], sort_keys=True): t for t in tables.values()
    }
    for spec in ALL_TABLES:
        # Given the spec the moto tests also use, When synthesized, Then the same table
        table = by_schema[json.dumps(spec.key_schema(), sort_keys=True)]
        props = table["Properties"]
        assert props["AttributeDefinitions"] == spec.attribute_definitions()
        assert props["BillingMode"] == "PAY_PER_REQUEST"
        assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
        assert table["DeletionPolicy"] == "Retain"
        ttl = props.get("TimeToLiveSpecification")
        if spec.ttl_attribute:
            assert ttl == {"AttributeName": spec.ttl_attribute, "Enabled": True}
        else:
            assert ttl is None


def test_prod_tables_are_deletion_protected(dev: Synth, prod: Synth) -> None:
    for table in _of_type(prod.json("data"), "AWS::DynamoDB::Table").values():
        assert table["Properties"]["DeletionProtectionEnabled"] is True
    for table in _of_type(dev.json("data"), "AWS::DynamoDB::Table").values():
        assert table["Properties"]["DeletionProtectionEnabled"] is False


def test_two_retained_secrets_with_no_value_in_the_template(dev: Synth) -> None:
    secrets = _of_type(dev.json("data"), "AWS::SecretsManager::Secret")
    assert len(secrets) == 2
    for secret in secrets.values():
        assert secret["DeletionPolicy"] == "Retain"
        assert secret["Properties"]["SecretString"] == "{}"


def test_service_stack_holds_no_state(dev: Synth) -> None:
    kinds = {r["Type"] for r in dev.json("service")["Resources"].values()}
    assert not kinds & {"AWS::DynamoDB::Table", "AWS::SecretsManager::Secret", "AWS::S3::Bucket"}


# --- functions --------------------------------------------------------------------------


def test_every_function_is_built_the_same_way(dev: Synth) -> None:
    functions = _of_type(dev.json("service"), "AWS::Lambda::Function")
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
    functions = _of_type(dev.json("service"), "AWS::Lambda::Function").values()
    by_handler = {f["Properties"]["Handler"].split(".")[1]: f["Properties"] for f in functions}
    for name in ALL_FUNCTIONS:
        assert by_handler[name]["MemorySize"] == config.sizing(name).memory_mb
        assert by_handler[name]["Timeout"] == config.sizing(name).timeout_s


def test_reserved_concurrency_is_configurable(tmp_path: Path) -> None:
    import aws_cdk as cdk
    from aws_cdk.assertions import Template
    from infra.app import build

    config = load_stage(
        "dev",
        {
            "functions": {
                **_sizing_dump(),
                "generate": {"memory_mb": 2048, "timeout_s": 29, "reserved_concurrency": 40},
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
        groups = _of_type(synthesized.json("service"), "AWS::Logs::LogGroup")
        assert len(groups) == len(ALL_FUNCTIONS) + 2  # + API access logs + state machine
        for group in groups.values():
            assert group["Properties"]["RetentionInDays"] == days
            assert group["DeletionPolicy"] == policy


def test_api_functions_use_snapstart_behind_a_live_alias(dev: Synth) -> None:
    template = dev.json("service")
    functions = _of_type(template, "AWS::Lambda::Function")
    snap = {
        f["Properties"]["Handler"].split(".")[1]
        for f in functions.values()
        if f["Properties"].get("SnapStart") == {"ApplyOn": "PublishedVersions"}
    }
    assert snap == {*API_FUNCTIONS, "authorizer"}
    aliases = _of_type(template, "AWS::Lambda::Alias")
    assert len(aliases) == len(snap)
    assert {a["Properties"]["Name"] for a in aliases.values()} == {"live"}
    # API Gateway invokes the aliases, never $LATEST
    alias_ids = set(aliases)
    for method in _of_type(template, "AWS::ApiGateway::Method").values():
        uri = json.dumps(method["Properties"]["Integration"]["Uri"])
        assert any(alias in uri for alias in alias_ids), uri


# --- IAM --------------------------------------------------------------------------------


def test_no_wildcard_actions_anywhere(dev: Synth, prod: Synth) -> None:
    for synthesized in (dev, prod):
        for stack in ("data", "service"):
            for name, statement in _statements(synthesized.json(stack)):
                for action in _as_list(statement["Action"]):
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
    for name, statement in _statements(dev.json("service")):
        if "*" in _as_list(statement["Resource"]):
            for action in _as_list(statement["Action"]):
                assert any(action.startswith(a) for a in allowed), (name, action)


def _role_policy(template: dict[str, Any], role_prefix: str) -> list[dict[str, Any]]:
    statements = []
    for policy in _of_type(template, "AWS::IAM::Policy").values():
        roles = json.dumps(policy["Properties"]["Roles"])
        if f'"{role_prefix}' in roles:
            statements += policy["Properties"]["PolicyDocument"]["Statement"]
    return statements


def _dynamodb_actions(statements: list[dict[str, Any]]) -> set[str]:
    return {a for s in statements for a in _as_list(s["Action"]) if a.startswith("dynamodb:")}


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
            "SyncRole",
            {
                "dynamodb:Scan",
                "dynamodb:GetItem",
                "dynamodb:PutItem",
                "dynamodb:UpdateItem",
                "dynamodb:BatchWriteItem",
            },
        ),
    ],
)
def test_each_role_gets_exactly_its_dynamodb_actions(
    dev: Synth, role: str, expected: set[str]
) -> None:
    statements = _role_policy(dev.json("service"), role)
    assert _dynamodb_actions(statements) == expected
    for statement in statements:  # never DeleteItem, never a whole-table wildcard
        assert "dynamodb:DeleteItem" not in _as_list(statement["Action"])


def test_secrets_are_readable_by_exactly_who_needs_them(dev: Synth) -> None:
    template = dev.json("service")
    readers: dict[str, set[str]] = {}
    for name, policy in _of_type(template, "AWS::IAM::Policy").items():
        text = json.dumps(policy["Properties"]["PolicyDocument"])
        if "secretsmanager:GetSecretValue" in text:
            for secret in ("ClientKeys", "ProviderKeys"):
                if secret in text:
                    readers.setdefault(secret, set()).add(name.split("Role")[0])
    assert readers["ClientKeys"] == {"Authorizer"}
    assert readers["ProviderKeys"] == {
        "Generate",
        "MultiGenerate",
        "DebateApi",
        "DebateSteps",
        "Sync",
    }


def test_debate_api_may_start_only_its_own_state_machine(dev: Synth) -> None:
    statements = _role_policy(dev.json("service"), "DebateApiRole")
    start = [s for s in statements if "states:StartExecution" in _as_list(s["Action"])]
    assert len(start) == 1
    assert "DebateStateMachine" in json.dumps(start[0]["Resource"])


# --- API --------------------------------------------------------------------------------


def _methods(template: dict[str, Any]) -> list[dict[str, Any]]:
    return [m["Properties"] for m in _of_type(template, "AWS::ApiGateway::Method").values()]


def test_routes_authorizer_and_api_keys(dev: Synth) -> None:
    template = dev.json("service")
    methods = _methods(template)
    assert len(methods) == len(ROUTES)
    public = [m for m in methods if m["AuthorizationType"] == "NONE"]
    assert len(public) == 1 and public[0]["HttpMethod"] == "GET"  # /health
    for method in methods:
        if method["AuthorizationType"] != "NONE":
            assert method["AuthorizationType"] == "CUSTOM"
            assert method["ApiKeyRequired"] is True
            assert method["Integration"]["Type"] == "AWS_PROXY"
    paths = set()
    for resource in _of_type(template, "AWS::ApiGateway::Resource").values():
        paths.add(resource["Properties"]["PathPart"])
    for route in ROUTES:
        assert set(route.path.strip("/").split("/")) <= paths


def test_every_app_route_is_reachable_through_api_gateway() -> None:
    from orchestra.api.app import default_routers

    routed = [(r.method, re.sub(r"\{[^}]+\}", "[^/]+", r.path)) for r in ROUTES]
    for router in default_routers():
        for route in router.routes:
            for method in route.methods:  # type: ignore[attr-defined]
                path = route.path  # type: ignore[attr-defined]
                assert any(
                    m == method and re.fullmatch(p.replace("[^/]++", ".+"), path) for m, p in routed
                ), (method, path)


def test_token_authorizer_on_the_bearer_header(dev: Synth) -> None:
    template = dev.templates["service"]
    template.has_resource_properties(
        "AWS::ApiGateway::Authorizer",
        {
            "Type": "TOKEN",
            "IdentitySource": "method.request.header.Authorization",
            "AuthorizerResultTtlInSeconds": 300,
            "IdentityValidationExpression": BEARER,
        },
    )
    template.has_resource_properties("AWS::ApiGateway::RestApi", {"ApiKeySourceType": "AUTHORIZER"})


@pytest.mark.parametrize(
    ("header", "passes"),
    [
        ("Bearer sk-orch-abc_DEF-123", True),
        ("bearer sk-x", True),
        ("BEARER  token", True),
        ("Basic dXNlcjpwYXNz", False),
        ("Bearer", False),
        ("Bearer ", False),
        ("sk-orch-abc", False),
    ],
)
def test_bearer_pattern(header: str, passes: bool) -> None:
    assert bool(re.fullmatch(BEARER, header)) is passes


def test_usage_plans_throttle_and_quota_per_key(dev: Synth) -> None:
    config = load_stage("dev")
    plans = _of_type(dev.json("service"), "AWS::ApiGateway::UsagePlan")
    assert len(plans) == len(config.usage_plans)
    by_name = {p["Properties"]["UsagePlanName"]: p["Properties"] for p in plans.values()}
    for plan in config.usage_plans:
        props = by_name[f"Orchestra-dev-{plan.name}"]
        assert props["Throttle"] == {"RateLimit": plan.rate_per_s, "BurstLimit": plan.burst}
        if plan.requests_per_day:
            assert props["Quota"] == {"Limit": plan.requests_per_day, "Period": "DAY"}
        else:
            assert "Quota" not in props
        assert props["ApiStages"][0]["Stage"]


def test_stage_logs_traces_and_throttles(dev: Synth) -> None:
    dev.templates["service"].has_resource_properties(
        "AWS::ApiGateway::Stage",
        {
            "StageName": "dev",
            "TracingEnabled": True,
            "AccessLogSetting": Match.object_like({"DestinationArn": Match.any_value()}),
            "MethodSettings": Match.array_with(
                [
                    Match.object_like(
                        {
                            "DataTraceEnabled": False,
                            "ThrottlingRateLimit": 50,
                            "ThrottlingBurstLimit": 100,
                        }
                    )
                ]
            ),
        },
    )


def test_access_log_lines_are_json_without_headers_or_bodies(dev: Synth) -> None:
    stage = next(iter(_of_type(dev.json("service"), "AWS::ApiGateway::Stage").values()))
    line = json.loads(stage["Properties"]["AccessLogSetting"]["Format"])
    assert {"requestId", "status", "client", "latencyMs"} <= set(line)
    assert not any("header" in v.lower() or "body" in v.lower() for v in line.values())


def test_gateway_errors_answer_in_openai_shape(dev: Synth) -> None:
    responses = _of_type(dev.json("service"), "AWS::ApiGateway::GatewayResponse")
    assert {r["Properties"]["ResponseType"] for r in responses.values()} == set(GATEWAY_RESPONSES)
    for response in responses.values():
        props = response["Properties"]
        rendered = props["ResponseTemplates"]["application/json"].replace(
            "$context.error.messageString", '"Forbidden"'
        )
        body = json.loads(rendered)
        assert set(body["error"]) == {"message", "type", "param", "code"}
        expected = GATEWAY_RESPONSES[props["ResponseType"]].status
        assert props.get("StatusCode") == (str(expected) if expected else None)


def test_waf_only_where_the_stage_asks(dev: Synth, prod: Synth) -> None:
    assert not _of_type(dev.json("service"), "AWS::WAFv2::WebACL")
    acl = next(iter(_of_type(prod.json("service"), "AWS::WAFv2::WebACL").values()))
    rules = {r["Name"]: r for r in acl["Properties"]["Rules"]}
    assert set(rules) == {
        "AWSManagedRulesCommonRuleSet",
        "AWSManagedRulesKnownBadInputsRuleSet",
        "RatePerIp",
    }
    overrides = rules["AWSManagedRulesCommonRuleSet"]["Statement"]["ManagedRuleGroupStatement"][
        "RuleActionOverrides"
    ]
    assert overrides == [{"Name": "SizeRestrictions_BODY", "ActionToUse": {"Count": {}}}]
    assert len(_of_type(prod.json("service"), "AWS::WAFv2::WebACLAssociation")) == 1


# --- state machine, schedules, alarms ------------------------------------------------------


def test_debate_state_machine_is_the_core_definition(dev: Synth) -> None:
    machine = next(iter(_of_type(dev.json("service"), "AWS::StepFunctions::StateMachine").values()))
    props = machine["Properties"]
    assert props["StateMachineType"] == "STANDARD"
    assert props["TracingConfiguration"] == {"Enabled": True}
    assert props["LoggingConfiguration"]["Level"] == "ALL"
    assert props["LoggingConfiguration"]["IncludeExecutionData"] is True
    # the core definition verbatim; the steps function's ARN is a CloudFormation substitution
    assert json.loads(props["DefinitionString"]) == definition(
        turn_timeout_s=load_stage("dev").debate_turn_timeout_s
    )
    assert "${" + STEPS_ARN + "}" in props["DefinitionString"]
    assert "DebateStepsFunction" in json.dumps(props["DefinitionSubstitutions"][STEPS_ARN])


def test_sync_schedules_with_retries_and_a_dead_letter_queue(dev: Synth) -> None:
    template = dev.json("service")
    schedules = _of_type(template, "AWS::Scheduler::Schedule")
    assert len(schedules) == len(SYNC_SCHEDULES)
    queue = next(iter(_of_type(template, "AWS::SQS::Queue")))
    expressions = {}
    for schedule in schedules.values():
        target = schedule["Properties"]["Target"]
        source = json.loads(target["Input"])["source"]
        expressions[source] = schedule["Properties"]["ScheduleExpression"]
        assert target["RetryPolicy"]["MaximumRetryAttempts"] == 3
        assert queue in json.dumps(target["DeadLetterConfig"])
        assert "SyncFunction" in json.dumps(target["Arn"])
    assert expressions == {
        "openrouter": "rate(6 hours)",
        "lmarena": "rate(1 day)",
        "huggingface": "rate(1 day)",
    }


def test_alarms_notify_the_topic(dev: Synth) -> None:
    template = dev.json("service")
    alarms = _of_type(template, "AWS::CloudWatch::Alarm")
    names = {k.split("Monitoring")[1] for k in alarms}
    for wanted in (
        "Api5xxRate",
        "ApiLatencyP99",
        "FallbackRate",
        "BreakersOpened",
        "DebateFailures",
        "SyncErrors",
        "SyncDeadLetters",
    ):
        assert any(n.startswith(wanted) for n in names), wanted
    topic = next(iter(_of_type(template, "AWS::SNS::Topic")))
    for alarm in alarms.values():
        assert topic in json.dumps(alarm["Properties"]["AlarmActions"])
    assert len(_of_type(template, "AWS::CloudWatch::Dashboard")) == 1


def test_fallback_alarm_divides_the_emitted_totals(dev: Synth) -> None:
    alarms = _of_type(dev.json("service"), "AWS::CloudWatch::Alarm")
    fallback = next(a for k, a in alarms.items() if "FallbackRate" in k)
    metrics = {
        m["MetricStat"]["Metric"]["MetricName"]: m["MetricStat"]["Metric"]
        for m in fallback["Properties"]["Metrics"]
        if "MetricStat" in m
    }
    assert set(metrics) == {"Requests", "FallbackRequests"}
    for metric in metrics.values():  # exactly what EmfObserver flushes: service dimension only
        assert metric["Namespace"] == "Orchestra"
        assert metric["Dimensions"] == [{"Name": "service", "Value": "orchestra-generate"}]


# --- checks -----------------------------------------------------------------------------


def test_cdk_nag_has_no_unacknowledged_findings(dev: Synth, prod: Synth) -> None:
    for synthesized in (dev, prod):
        for plugin in synthesized.report()["pluginReports"]:
            assert plugin["pluginName"] == "AwsSolutions"
            assert plugin["violations"] == []
            assert plugin["conclusion"] == "success"
            for acknowledged in plugin["suppressedViolations"]:
                assert len(acknowledged["reason"]) > 40, acknowledged["acknowledgedId"]


def test_cfn_lint_is_clean(dev: Synth, prod: Synth, monkeypatch: pytest.MonkeyPatch) -> None:
    import yaml
    from cfnlint.api import ManualArgs, lint

    ignore = yaml.safe_load((ROOT / ".cfnlintrc.yaml").read_text())["ignore_checks"]
    for synthesized in (dev, prod):
        monkeypatch.chdir(synthesized.outdir)  # not the repo's .cfnlintrc (it names cdk.out/)
        templates = sorted(synthesized.outdir.glob("*.template.json"))
        assert len(templates) == 2
        for template in templates:
            config = ManualArgs(ignore_checks=ignore, regions=["eu-west-1"])
            matches = list(lint(template.read_text(), config=config))
            assert matches == [], (template.name, [str(m) for m in matches])
