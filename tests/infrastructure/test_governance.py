"""Governance in the stacks: the governance table and who may touch it, the admin function
(its routes, environment and key permissions), Bedrock Guardrails, guardrail defaults."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from infra.config import API_FUNCTIONS, load_stage
from infra.constructs.api import ROUTES

from orchestra.config import Settings
from orchestra.storage.tables import GOVERNANCE_TABLE

from support.cdk_synth import Synth, as_list, methods_by_route, of_type, role_policy, statements

pytestmark = pytest.mark.slow

GOVERNED = {
    "generate",
    "multi_generate",
    "debate_api",
    "debate_steps",
    "admin",
    "workflows_api",
    "chain_steps",
    "batch_steps",
}
MODEL_CALLERS = {"generate", "multi_generate", "debate_steps", "chain_steps", "batch_steps"}
GUARDRAIL = "abcd1234efgh"


def _functions(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each function's properties by its name (``functions.<name>.handler.handler``)."""
    found = of_type(template, "AWS::Lambda::Function").values()
    return {f["Properties"]["Handler"].split(".")[1]: f["Properties"] for f in found}


def _env(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: p["Environment"]["Variables"] for name, p in _functions(template).items()}


def _actions_on(granted: list[dict[str, Any]], resource: str) -> set[str]:
    """The actions of the statements whose resources name ``resource`` (a logical id part)."""
    return {
        action
        for statement in granted
        if resource in json.dumps(statement["Resource"])
        for action in as_list(statement["Action"])
    }


def _service(tmp_path: Path, overrides: dict[str, Any]) -> dict[str, Any]:
    """The dev service stack with ``overrides``, synthesized alone (no cdk-nag)."""
    import aws_cdk as cdk
    from aws_cdk.assertions import Template
    from infra.app import build

    app = cdk.App(context={"aws:cdk:bundling-stacks": []}, outdir=str(tmp_path / "out"))
    stack = build(app, load_stage("dev", overrides))["service"]
    template: dict[str, Any] = Template.from_stack(stack).to_json()
    return template


# --- the table ----------------------------------------------------------------------------


def test_the_governance_table_is_kept_like_the_others(dev: Synth, prod: Synth) -> None:
    # Given the core's table spec (pk, sk, holds expiring through expires_at)
    for synthesized in (dev, prod):
        tables = of_type(synthesized.json("data"), "AWS::DynamoDB::Table")
        governance = [t for name, t in tables.items() if name.startswith("GovernanceTable")]
        # Then one table, on demand, point-in-time recovery, retained, with the TTL
        assert len(governance) == 1
        props = governance[0]["Properties"]
        assert props["KeySchema"] == GOVERNANCE_TABLE.key_schema()
        assert props["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
        assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
        assert governance[0]["DeletionPolicy"] == "Retain"
        # And encrypted at rest as every table is (DynamoDB's default key: no SSE override)
        assert {json.dumps(t["Properties"].get("SSESpecification")) for t in tables.values()} == {
            "null"
        }


def test_the_governance_table_reaches_exactly_the_governed_functions(dev: Synth) -> None:
    env = _env(dev.json("service"))
    with_table = {name for name, variables in env.items() if GOVERNANCE_TABLE.env_var in variables}
    assert with_table == GOVERNED
    for name in GOVERNED:
        assert "GovernanceTable" in json.dumps(env[name][GOVERNANCE_TABLE.env_var]), name
    assert GOVERNANCE_TABLE.env_var == "ORCHESTRA_GOVERNANCE_TABLE"


@pytest.mark.parametrize(
    ("role", "expected"),
    [
        # the ledger: conditional UpdateItem per hold and settle; policies by GetItem
        ("GenerateRole", {"dynamodb:GetItem", "dynamodb:UpdateItem"}),
        ("MultiGenerateRole", {"dynamodb:GetItem", "dynamodb:UpdateItem"}),
        ("DebateStepsRole", {"dynamodb:GetItem", "dynamodb:UpdateItem"}),
        # a debate's creator is admitted when it starts: policies read only
        ("DebateApiRole", {"dynamodb:GetItem"}),
        (
            "AdminRole",
            {
                "dynamodb:GetItem",
                "dynamodb:PutItem",
                "dynamodb:DeleteItem",
                "dynamodb:Query",
                "dynamodb:Scan",
            },
        ),
        ("AuthorizerRole", set()),
        ("SyncRole", set()),
    ],
)
def test_each_role_gets_exactly_its_governance_table_actions(
    dev: Synth, role: str, expected: set[str]
) -> None:
    granted = role_policy(dev.json("service"), role)
    assert _actions_on(granted, "GovernanceTable") == expected


def test_spend_rows_are_written_by_the_model_callers_and_read_by_the_admin(dev: Synth) -> None:
    template = dev.json("service")
    for role in ("GenerateRole", "MultiGenerateRole", "DebateStepsRole"):
        assert "dynamodb:UpdateItem" in _actions_on(role_policy(template, role), "MetricsTable")
    # the admin function reads spend (one Query per day) and never writes a row
    assert _actions_on(role_policy(template, "AdminRole"), "MetricsTable") == {"dynamodb:Query"}
    assert "ORCHESTRA_METRICS_TABLE" in _env(template)["admin"]


def test_no_function_but_the_admin_may_delete_anything(dev: Synth) -> None:
    # (the workflows API deletes a client's own files: DELETE /v1/files/{id}, in its table)
    for name, statement in statements(dev.json("service")):
        if "dynamodb:DeleteItem" in as_list(statement["Action"]):
            assert name.startswith(("AdminRole", "WorkflowsApiRole")), name
            table = "GovernanceTable" if name.startswith("AdminRole") else "WorkflowsTable"
            assert table in json.dumps(statement["Resource"])


# --- the admin function ---------------------------------------------------------------------


def test_admin_routes_go_to_the_admin_function_behind_the_bearer_authorizer(dev: Synth) -> None:
    # Given the synthesized API
    template = dev.json("service")
    by_route = methods_by_route(template)
    authorizers = {
        name: a["Properties"]["Type"]
        for name, a in of_type(template, "AWS::ApiGateway::Authorizer").items()
    }
    # Then both routes exist, keyed, through the cached TOKEN authorizer, buffered, to admin
    for verb, path in (("ANY", "/v1/admin/{proxy+}"), ("GET", "/v1/spend")):
        method = by_route[(verb, path)]
        assert method["AuthorizationType"] == "CUSTOM" and method["ApiKeyRequired"] is True
        assert authorizers[method["AuthorizerId"]["Ref"]] == "TOKEN"
        integration = method["Integration"]
        assert integration["Type"] == "AWS_PROXY"
        assert integration.get("ResponseTransferMode", "BUFFERED") == "BUFFERED"
        assert "AdminLive" in json.dumps(integration["Uri"]), path  # the SnapStart alias
    assert {r.path for r in ROUTES if r.function == "admin"} == {"/v1/admin/{proxy+}", "/v1/spend"}


def test_the_admin_function_is_an_api_function_with_its_own_environment(dev: Synth) -> None:
    config = load_stage("dev")
    template = dev.json("service")
    props = _functions(template)["admin"]
    env = props["Environment"]["Variables"]
    assert "admin" in API_FUNCTIONS
    assert props["SnapStart"] == {"ApplyOn": "PublishedVersions"}
    assert props["Timeout"] <= 29  # within API Gateway's buffered integration timeout
    assert env["ORCHESTRA_TRUST_GATEWAY_AUTH"] == "true"
    # the client keys (to issue and revoke), never the provider keys
    assert "ClientKeys" in json.dumps(env["ORCHESTRA_API_KEYS_SECRET"])
    assert "ORCHESTRA_PROVIDER_KEYS_SECRET" not in env
    # new keys join the stage's key plan, named as the plan is in the template
    plans = {
        p["Properties"]["UsagePlanName"]
        for p in of_type(template, "AWS::ApiGateway::UsagePlan").values()
    }
    assert env["ORCHESTRA_KEY_USAGE_PLAN"] == "Orchestra-dev-standard" in plans
    assert config.key_usage_plan == "standard"
    assert "key_usage_plan" in Settings.model_fields


def test_the_admin_function_manages_keys_on_its_plan_only(dev: Synth) -> None:
    template = dev.json("service")
    granted = role_policy(template, "AdminRole")
    apigateway = {
        action: json.dumps(statement["Resource"])
        for statement in granted
        for action in as_list(statement["Action"])
        if action.startswith("apigateway:")
    }
    # Then exactly these verbs, each on its paths
    assert set(apigateway) == {"apigateway:POST", "apigateway:GET", "apigateway:DELETE"}
    standard = next(
        name
        for name, plan in of_type(template, "AWS::ApiGateway::UsagePlan").items()
        if plan["Properties"]["UsagePlanName"].endswith("-standard")
    )
    post = apigateway["apigateway:POST"]
    assert '"::/apikeys"' in post and f'"::/usageplans/", {{"Ref": "{standard}"}}, "/keys"' in post
    assert "*" not in post  # no other plan, no other resource
    assert '"::/apikeys/*"' in apigateway["apigateway:DELETE"]
    assert '"::/apikeys"' in apigateway["apigateway:GET"]
    assert '"::/usageplans"' in apigateway["apigateway:GET"]
    # And the client-keys secret is read and rewritten by the admin (and read by the
    # authorizer), by nobody else
    writers = {
        name.split("Role")[0]
        for name, statement in statements(template)
        if "secretsmanager:PutSecretValue" in as_list(statement["Action"])
    }
    assert writers == {"Admin"}
    # And no other role gets any API Gateway management action
    for name, statement in statements(template):
        if any(a.startswith("apigateway:") for a in as_list(statement["Action"])):
            assert name.startswith("KeyAdministration"), name


def test_key_usage_plan_must_be_one_of_the_stage_plans() -> None:
    assert load_stage("prod", {"key_usage_plan": "unlimited"}).key_usage_plan == "unlimited"
    with pytest.raises(ValueError, match="key_usage_plan 'gold' is not in usage_plans"):
        load_stage("dev", {"key_usage_plan": "gold"})


# --- Bedrock Guardrails and guardrail defaults -----------------------------------------------


def test_without_a_guardrail_no_function_may_apply_one(dev: Synth, prod: Synth) -> None:
    for synthesized in (dev, prod):
        template = synthesized.json("service")
        for _, statement in statements(template):
            assert "bedrock:ApplyGuardrail" not in as_list(statement["Action"])
        for variables in _env(template).values():
            assert not {k for k in variables if "GUARDRAIL" in k or "REDACT" in k}


def test_a_configured_guardrail_reaches_the_model_callers_with_its_arn_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a stage with a Bedrock guardrail and stage-wide guardrail defaults
    overrides = {
        "bedrock_guardrail_id": GUARDRAIL,
        "bedrock_guardrail_version": "3",
        "governance": {"guardrail_injection": "block", "redact_output": True, "hold_ttl_s": 600},
    }
    template = _service(tmp_path, overrides)
    env = _env(template)
    # Then the model callers (only) learn the guardrail
    with_guardrail = {n for n, v in env.items() if "ORCHESTRA_BEDROCK_GUARDRAIL_ID" in v}
    assert with_guardrail == MODEL_CALLERS
    for name in MODEL_CALLERS:
        assert env[name]["ORCHESTRA_BEDROCK_GUARDRAIL_ID"] == GUARDRAIL
        assert env[name]["ORCHESTRA_BEDROCK_GUARDRAIL_VERSION"] == "3"
    # And may apply that guardrail, in this account and region, and no other
    appliers = set()
    for name, statement in statements(template):
        if "bedrock:ApplyGuardrail" in as_list(statement["Action"]):
            assert as_list(statement["Action"]) == ["bedrock:ApplyGuardrail"]
            resource = json.dumps(statement["Resource"])
            assert f":guardrail/{GUARDRAIL}" in resource and "*" not in resource
            assert "AWS::AccountId" in resource and "AWS::Region" in resource
            appliers.add(name.split("Role")[0])
    assert appliers == {"Generate", "MultiGenerate", "DebateSteps", "ChainSteps", "BatchSteps"}
    # And the defaults reach every governed function as their settings' variables
    for name, variables in env.items():
        defaults = {k: v for k, v in variables.items() if k in _DEFAULT_VARIABLES}
        expected = _DEFAULT_VARIABLES if name in GOVERNED else {}
        assert defaults == expected, name
    # And the application reads them as the values configured
    for variable, value in env["generate"].items():
        if isinstance(value, str) and variable.startswith("ORCHESTRA_"):
            monkeypatch.setenv(variable, value)
    settings = Settings()
    assert settings.guardrail_injection == "block" and settings.redact_output is True
    assert settings.hold_ttl_s == 600 and settings.bedrock_guardrail_version == "3"


_DEFAULT_VARIABLES = {
    "ORCHESTRA_GUARDRAIL_INJECTION": "block",
    "ORCHESTRA_REDACT_OUTPUT": "true",
    "ORCHESTRA_HOLD_TTL_S": "600",
}


def test_a_guardrail_given_by_arn_is_granted_as_that_arn(tmp_path: Path) -> None:
    arn = f"arn:aws:bedrock:eu-central-1:210987654321:guardrail/{GUARDRAIL}"
    template = _service(
        tmp_path, {"bedrock_guardrail_id": arn, "bedrock_guardrail_version": "DRAFT"}
    )
    resources = {
        json.dumps(statement["Resource"])
        for _, statement in statements(template)
        if "bedrock:ApplyGuardrail" in as_list(statement["Action"])
    }
    assert resources == {json.dumps(arn)}


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"bedrock_guardrail_id": GUARDRAIL}, "go together"),
        ({"bedrock_guardrail_version": "1"}, "go together"),
        ({"bedrock_guardrail_id": "Bad Id!", "bedrock_guardrail_version": "1"}, "pattern"),
        ({"bedrock_guardrail_id": GUARDRAIL, "bedrock_guardrail_version": "v1"}, "pattern"),
        ({"governance": {"guardrail_secrets": "warn"}}, "guardrail_secrets"),
        ({"governance": {"hold_ttl_s": 5}}, "hold_ttl_s"),
        ({"governance": {"unknown": 1}}, "unknown"),
    ],
)
def test_inconsistent_governance_settings_stop_the_synth(
    overrides: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        load_stage("dev", overrides)


def test_every_governance_default_is_a_setting_of_the_application() -> None:
    from infra.config import GovernanceDefaults

    assert set(GovernanceDefaults.model_fields) <= set(Settings.model_fields)


def test_an_environment_lambda_would_refuse_stops_the_synth(tmp_path: Path) -> None:
    from infra.constructs.function import TOKEN_ESTIMATE, environment_size
    from infra.stacks.service import PROVIDERS_JSON_LIMIT, providers_json

    # Given the largest providers file within its own limit
    def write(count: int) -> Path:
        path = tmp_path / f"orchestra-{count}.yaml"  # one file each: the loader caches
        lines = [f"  - {{name: p{i}, type: openai, api_key_env: KEY_{i}}}\n" for i in range(count)]
        path.write_text("providers:\n" + "".join(lines))
        return path

    def fits(count: int) -> bool:
        try:
            providers_json(str(write(count)))
        except ValueError:  # above PROVIDERS_JSON_LIMIT
            return False
        return True

    count = 1
    while fits(count + 1):
        count += 1
    path = write(count)
    assert PROVIDERS_JSON_LIMIT - 80 < len(providers_json(str(path))) <= PROVIDERS_JSON_LIMIT
    # When the stage also sets a guardrail and every governance default
    governance = {
        "guardrail_injection": "block",
        "guardrail_secrets": "block",
        "guardrail_size": "flag",
        "guardrail_max_message_chars": 50_000,
        "redact_output": True,
        "redact_lookbehind_chars": 128,
        "policy_cache_s": 15,
        "hold_ttl_s": 600,
    }
    overrides = {
        "providers_file": str(path),
        "bedrock_guardrail_id": GUARDRAIL,
        "bedrock_guardrail_version": "DRAFT",
        "governance": governance,
    }
    # Then the synth stops, naming the function, before Lambda would refuse the deploy
    with pytest.raises(ValueError, match=r"the generate function's environment is about \d+"):
        _service(tmp_path, overrides)
    # And without the providers file the same stage fits
    _service(tmp_path / "fits", {k: v for k, v in overrides.items() if k != "providers_file"})
    # (a value known only at deploy is counted at its estimate)
    import aws_cdk as cdk

    assert environment_size({"A": cdk.Aws.REGION, "BB": "x"}) == 1 + TOKEN_ESTIMATE + 3
