"""``functions/admin/handler.py`` with the sample events in ``events/admin``, under moto, as
deployed: the environment the stack gives it, and only the AWS calls its role allows.

The admin API's routes and root land with the admin piece of issue 18; until they do these
tests are skipped (the infrastructure and the handler are ready for them).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from orchestra.storage.governance import DynamoDBPolicyStore

from support.lambda_api import (
    TABLES,
    CallCounter,
    Context,
    body_of,
    close_apps,
    deployed,
    load_handler,
    sample_event,
)

GOVERNANCE = "orch-governance"
PLAN = "Orchestra-test-standard"
#: what the admin function's role allows outside DynamoDB (infra/constructs/key_admin.py,
#: infra/stacks/service.py): operations by service
ALLOWED = {
    "secretsmanager": {"GetSecretValue", "DescribeSecret", "PutSecretValue"},
    # POST /apikeys, POST /usageplans/<plan>/keys, GET /apikeys, GET /usageplans,
    # DELETE /apikeys/<id>
    "apigateway": {
        "CreateApiKey",
        "CreateUsagePlanKey",
        "GetApiKeys",
        "GetUsagePlans",
        "DeleteApiKey",
    },
}


@pytest.fixture(autouse=True)
def _close_apps() -> Iterator[None]:
    yield
    close_apps()


@pytest.fixture
def aws(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The admin function's deployed environment; yields the key plan's id."""
    config = tmp_path / "empty.yaml"
    config.write_text("providers: []\n")
    tables = {**TABLES, "governance": GOVERNANCE}
    with deployed(monkeypatch, config, {}, tables=tables):
        gateway = boto3.client("apigateway", region_name="us-east-1")
        api = gateway.create_rest_api(name="orchestra")["id"]
        plan = gateway.create_usage_plan(name=PLAN, apiStages=[{"apiId": api, "stage": "test"}])
        monkeypatch.setenv("ORCHESTRA_GOVERNANCE_TABLE", GOVERNANCE)
        monkeypatch.setenv("ORCHESTRA_KEY_USAGE_PLAN", PLAN)
        monkeypatch.setenv("ORCHESTRA_TRUST_GATEWAY_AUTH", "true")
        monkeypatch.delenv("ORCHESTRA_PROVIDER_KEYS_SECRET")  # the admin function has none
        yield plan["id"]


def _invoke(name: str) -> tuple[int, Any]:
    response = load_handler("admin").handler(sample_event("admin", name), Context("admin"))
    return response["statusCode"], json.loads(body_of(response) or "null")


def _make_admin(key_id: str) -> None:
    from orchestra.governance.records import KeyPolicy

    store = DynamoDBPolicyStore(
        GOVERNANCE, client=boto3.client("dynamodb", region_name="us-east-1")
    )
    asyncio.run(store.put_key(KeyPolicy(key_id=key_id, admin=True)))


def test_a_client_key_may_not_administer_keys(aws: str) -> None:
    # Given "ops" (the sample's principal) with no admin policy
    # When it lists keys
    status, body = _invoke("rest_v1_admin_list_keys.json")
    # Then 403 in OpenAI's shape
    assert status == 403
    assert body["error"]["code"] == "admin_required"


def test_a_client_key_reads_its_own_spend(aws: str) -> None:
    status, body = _invoke("rest_v1_spend_by_model.json")
    assert status == 200
    assert body["object"] == "list" and body["data"] == []


def test_an_admin_issues_a_key_with_only_the_calls_its_role_allows(
    aws: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from infra.stacks.service import GOVERNANCE_ADMIN, SPEND_READ

    from orchestra.governance.records import TeamPolicy

    # Given "ops" is an admin, team-a exists, and every AWS call is recorded
    _make_admin("ops")
    store = DynamoDBPolicyStore(
        GOVERNANCE, client=boto3.client("dynamodb", region_name="us-east-1")
    )
    asyncio.run(store.put_team(TeamPolicy(team_id="team-a")))
    calls = CallCounter()
    calls.install(monkeypatch)
    # When it creates a key for team-a's application
    status, body = _invoke("rest_v1_admin_create_key.json")
    made = list(calls.calls)
    # Then the key is shown once, stored in the secret and on the key plan in API Gateway
    assert status == 201, body
    key = body["key"]
    assert key.startswith("sk-orch-")
    secrets = boto3.client("secretsmanager", region_name="us-east-1")
    stored = json.loads(secrets.get_secret_value(SecretId="orch/api-keys")["SecretString"])
    assert stored["team-a-app"] == key
    gateway = boto3.client("apigateway", region_name="us-east-1")
    assert len(gateway.get_usage_plan_keys(usagePlanId=aws)["items"]) == 1
    # And every call it made is one its role is granted
    allowed = {
        **ALLOWED,
        "dynamodb": {a.removeprefix("dynamodb:") for a in GOVERNANCE_ADMIN + SPEND_READ},
    }
    by_service: dict[str, set[str]] = {}
    for service, operation in made:
        by_service.setdefault(service, set()).add(operation)
    assert by_service["apigateway"] >= {"CreateApiKey", "CreateUsagePlanKey"}
    for service, operations in by_service.items():
        assert operations <= allowed.get(service, set()), (service, operations)
