"""``orchestra keys create|revoke`` straight on a deployed stack (moto): the bootstrap of the
first admin, and ``AwsKeyIssuer`` (the admin function's issuer)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from orchestra.cli import main
from orchestra.errors import InvalidRequest
from orchestra.governance.issuer import AwsKeyIssuer
from orchestra.storage.client_keys import ClientKeys

from support.policies import FakePolicyStore


@pytest.fixture
def stack(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    with mock_aws():
        apigw = boto3.client("apigateway")
        api = apigw.create_rest_api(name="orchestra")["id"]
        root = apigw.get_resources(restApiId=api)["items"][0]["id"]
        apigw.put_method(restApiId=api, resourceId=root, httpMethod="GET", authorizationType="NONE")
        apigw.put_integration(restApiId=api, resourceId=root, httpMethod="GET", type="MOCK")
        apigw.create_deployment(restApiId=api, stageName="dev")
        stage = [{"apiId": api, "stage": "dev"}]
        plan = apigw.create_usage_plan(name="orchestra-dev-standard", apiStages=stage)["id"]
        secrets = boto3.client("secretsmanager")
        secret = secrets.create_secret(Name="client-keys", SecretString="{}")["ARN"]
        store = FakePolicyStore()
        # the DynamoDB policy store is another helper's: the CLI reaches it through this seam
        monkeypatch.setattr(
            "orchestra.compose.governance.dynamodb_policy_store", lambda table, client=None: store
        )
        yield {"apigw": apigw, "secrets": secrets, "plan": plan, "secret": secret, "store": store}


def _secret(stack: dict[str, Any]) -> dict[str, str]:
    raw = stack["secrets"].get_secret_value(SecretId=stack["secret"])["SecretString"]
    return dict(json.loads(raw))


def _direct(stack: dict[str, Any]) -> list[str]:
    return [
        "--secret-id", stack["secret"], "--usage-plan-id", stack["plan"],
        "--governance-table", "governance",
    ]  # fmt: skip


def test_bootstrap_the_first_admin(
    stack: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    # When the first admin key is created directly on the stack
    assert main(["keys", "create", "ops", "--admin", "--rpm", "30", *_direct(stack)]) == 0
    # Then its key is in the secret and on the usage plan, and its policy says admin
    key = _secret(stack)["ops"]
    assert key in capsys.readouterr().out
    (gateway_key,) = stack["apigw"].get_api_keys(includeValues=True)["items"]
    assert gateway_key["value"] == key
    plan_keys = stack["apigw"].get_usage_plan_keys(usagePlanId=stack["plan"])["items"]
    assert [k["id"] for k in plan_keys] == [gateway_key["id"]]
    policy = stack["store"].keys["ops"]
    assert policy.admin and policy.rpm == 30
    # When it is revoked, Then the key, the API key and the policy are gone
    assert main(["keys", "revoke", "ops", *_direct(stack)]) == 0
    assert _secret(stack) == {} and stack["store"].keys == {}
    assert stack["apigw"].get_api_keys()["items"] == []


def test_limits_without_a_governance_table_are_refused(
    stack: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    base = ["--secret-id", stack["secret"], "--usage-plan-id", stack["plan"]]
    assert main(["keys", "create", "ops", "--admin", *base]) == 2
    assert "--governance-table" in capsys.readouterr().err
    assert _secret(stack) == {}
    assert main(["keys", "update", "ops", "--rpm", "1", *base]) == 2  # update: the API only


def test_a_failed_issue_leaves_no_policy(
    stack: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given API Gateway refusing the key after the policy was written
    def refuse(*_: Any) -> str:
        raise InvalidRequest("refused")

    monkeypatch.setattr(ClientKeys, "create", refuse)
    assert main(["keys", "create", "ops", *_direct(stack)]) == 2
    # Then no policy stays behind without its key
    assert stack["store"].keys == {}


def test_the_issuer_finds_its_plan_by_name_and_refuses_a_taken_name(
    stack: dict[str, Any],
) -> None:
    keys = ClientKeys(stack["apigw"], stack["secrets"], stack["secret"])
    issuer = AwsKeyIssuer(keys, "orchestra-dev-standard")
    key = asyncio.run(issuer.issue("ci"))
    assert _secret(stack) == {"ci": key}
    plan_keys = stack["apigw"].get_usage_plan_keys(usagePlanId=stack["plan"])["items"]
    assert len(plan_keys) == 1
    with pytest.raises(InvalidRequest) as taken:
        asyncio.run(issuer.issue("ci"))
    assert (taken.value.status, taken.value.code) == (409, "key_exists")
    assert asyncio.run(issuer.revoke("ci")) is True
    assert asyncio.run(issuer.revoke("ci")) is False
