"""The REST API: routes, the Bearer-key authorizer, usage plans, logs, OpenAI-shaped errors."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from aws_cdk.assertions import Match
from infra.config import load_stage
from infra.constructs.api import BEARER, ROUTES, Route
from infra.gateway_responses import GATEWAY_RESPONSES

from support.cdk_synth import Synth, methods_by_route, of_type
from support.lambda_api import import_handler

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


def _methods(template: dict[str, Any]) -> list[dict[str, Any]]:
    return [m["Properties"] for m in of_type(template, "AWS::ApiGateway::Method").values()]


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
    for resource in of_type(template, "AWS::ApiGateway::Resource").values():
        paths.add(resource["Properties"]["PathPart"])
    for route in ROUTES:
        assert set(route.path.strip("/").split("/")) <= paths


def test_streaming_routes_use_stream_transfer_mode_with_the_longer_timeout(dev: Synth) -> None:
    # Given the synthesized API
    config = load_stage("dev")
    template = dev.json("service")
    by_route: dict[tuple[str, str], dict[str, Any]] = {}
    resources = of_type(template, "AWS::ApiGateway::Resource")
    for method in _methods(template):
        resource = method["ResourceId"]
        part = resources[resource["Ref"]]["Properties"]["PathPart"] if "Ref" in resource else ""
        by_route.setdefault((method["HttpMethod"], part), method)
    chat = by_route[("POST", "completions")]["Integration"]
    multi = by_route[("POST", "multi-generate")]["Integration"]
    debate = by_route[("POST", "debates")]["Integration"]
    # Then chat completions and multi-generate stream, with the stage's request timeout,
    # through Lambda's InvokeWithResponseStream; the authorizer and API keys still apply
    for integration, route in ((chat, "completions"), (multi, "multi-generate")):
        assert integration["ResponseTransferMode"] == "STREAM", route
        assert integration["TimeoutInMillis"] == config.request_timeout_s * 1000
        assert "response-streaming-invocations" in json.dumps(integration["Uri"])
        method = by_route[("POST", route)]
        assert method["AuthorizationType"] == "CUSTOM" and method["ApiKeyRequired"] is True
    # And the debate API (fast answers) stays buffered within 29 s
    assert debate.get("ResponseTransferMode", "BUFFERED") == "BUFFERED"
    assert debate.get("TimeoutInMillis", 29_000) <= 29_000
    # And every route of a streaming function streams (it always answers in that format)
    for route in ROUTES:
        if route.function in ("generate", "multi_generate"):
            method = by_route[(route.method, route.path.rstrip("/").split("/")[-1])]
            assert method["Integration"]["ResponseTransferMode"] == "STREAM", route


def _pattern(path: str) -> str:
    """An API Gateway resource path as a regex: ``{proxy+}`` any rest, ``{id}`` one segment."""
    return re.sub(r"\{[^}/]+\}", "[^/]+", re.sub(r"\{[^}/]+\+\}", ".+", path))


def test_every_app_route_is_reachable_through_api_gateway() -> None:
    from orchestra.api.app import default_routers

    routed = [(r.method, _pattern(r.path)) for r in ROUTES]
    for router in default_routers():
        for route in router.routes:
            for method in route.methods:  # type: ignore[attr-defined]
                path = route.path  # type: ignore[attr-defined]
                assert any(m in (method, "ANY") and re.fullmatch(p, path) for m, p in routed), (
                    method,
                    path,
                )


def _served_by(function: str) -> list[tuple[str, str]]:
    """(method, path) of every route the function's handler mounts."""
    module = import_handler(function, f"routes_of_{function}")
    return [
        (method, route.path)
        for router in module.routers()
        for route in router.routes
        for method in route.methods
    ]


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: f"{r.method} {r.path}")
def test_each_route_goes_to_the_function_that_serves_it(route: Route) -> None:
    pattern = _pattern(route.path)
    served = _served_by(route.function)
    verbs = {route.method} if route.method != "ANY" else {m for m, _ in served}
    assert any(m in verbs and re.fullmatch(pattern, p) for m, p in served), served


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


def _authorizers(template: dict[str, Any]) -> dict[str, str]:
    """Authorizer type by logical id."""
    found = of_type(template, "AWS::ApiGateway::Authorizer")
    return {name: a["Properties"]["Type"] for name, a in found.items()}


def test_anthropic_and_gemini_routes_take_any_clients_key_uncached(dev: Synth) -> None:
    # Given the synthesized API
    template = dev.json("service")
    authorizers = _authorizers(template)
    # Then a REQUEST authorizer with no identity source and no cache exists beside the TOKEN one
    assert sorted(authorizers.values()) == ["REQUEST", "TOKEN"]
    found = of_type(template, "AWS::ApiGateway::Authorizer").values()
    request = next(a["Properties"] for a in found if a["Properties"]["Type"] == "REQUEST")
    assert request["AuthorizerResultTtlInSeconds"] == 0
    assert "IdentitySource" not in request  # the function finds the key, wherever it is
    # And both run the one authorizer function
    assert len({json.dumps(a["Properties"]["AuthorizerUri"]) for a in found}) == 1
    # And each secured route uses the authorizer its clients' headers need, with API keys
    by_path = methods_by_route(template)
    for route in ROUTES:
        if route.public:
            continue
        method = by_path[(route.method, route.path)]
        kind = authorizers[method["AuthorizerId"]["Ref"]]
        assert kind == ("REQUEST" if route.any_key else "TOKEN"), route
        assert method["ApiKeyRequired"] is True
    assert {r.path for r in ROUTES if r.any_key} == {
        "/v1/messages",
        "/v1/messages/count_tokens",
        "/v1beta/models/{proxy+}",
        "/v1/models/{proxy+}",
    }


def test_the_new_formats_stream_like_chat_completions(dev: Synth) -> None:
    # Given the routes of issue 16's formats (Messages and Gemini stream when asked)
    by_path = methods_by_route(dev.json("service"))
    chat = by_path[("POST", "/v1/chat/completions")]["Integration"]
    for verb, path in [
        ("POST", "/v1/messages"),
        ("POST", "/v1/messages/count_tokens"),
        ("POST", "/v1/responses"),
        ("GET", "/v1/responses/{response_id}"),
        ("POST", "/v1beta/models/{proxy+}"),
        ("POST", "/v1/models/{proxy+}"),
        ("POST", "/v1/embeddings"),
    ]:
        # Then each goes to the generate function's streaming integration, as chat does
        integration = by_path[(verb, path)]["Integration"]
        assert integration["ResponseTransferMode"] == "STREAM", path
        assert integration["Uri"] == chat["Uri"], path
        assert integration["TimeoutInMillis"] == chat["TimeoutInMillis"], path


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
    plans = of_type(dev.json("service"), "AWS::ApiGateway::UsagePlan")
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
    stage = next(iter(of_type(dev.json("service"), "AWS::ApiGateway::Stage").values()))
    line = json.loads(stage["Properties"]["AccessLogSetting"]["Format"])
    assert {"requestId", "status", "client", "latencyMs"} <= set(line)
    assert not any("header" in v.lower() or "body" in v.lower() for v in line.values())


def test_gateway_errors_answer_in_openai_shape(dev: Synth) -> None:
    responses = of_type(dev.json("service"), "AWS::ApiGateway::GatewayResponse")
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
    assert not of_type(dev.json("service"), "AWS::WAFv2::WebACL")
    acl = next(iter(of_type(prod.json("service"), "AWS::WAFv2::WebACL").values()))
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
    assert len(of_type(prod.json("service"), "AWS::WAFv2::WebACLAssociation")) == 1
