"""``orchestra keys create|list|revoke`` against API Gateway and Secrets Manager (moto)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from orchestra.aws_lambda.authorizer import authorize
from orchestra.cli import main
from orchestra.cli.keys import ClientKeys
from orchestra.errors import InvalidRequest

ARN = "arn:aws:execute-api:eu-west-1:123456789012:abc123/dev/POST/v1/chat/completions"


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(var, "testing")
    with mock_aws():
        apigw = boto3.client("apigateway")
        api = apigw.create_rest_api(name="orchestra")["id"]
        root = apigw.get_resources(restApiId=api)["items"][0]["id"]
        apigw.put_method(restApiId=api, resourceId=root, httpMethod="GET", authorizationType="NONE")
        apigw.put_integration(restApiId=api, resourceId=root, httpMethod="GET", type="MOCK")
        apigw.create_deployment(restApiId=api, stageName="dev")
        plan = apigw.create_usage_plan(name="standard", apiStages=[{"apiId": api, "stage": "dev"}])[
            "id"
        ]
        secrets = boto3.client("secretsmanager")
        secret = secrets.create_secret(Name="client-keys", SecretString="{}")["ARN"]
        yield {"apigw": apigw, "secrets": secrets, "plan": plan, "secret": secret}


def _keys(aws: dict[str, Any]) -> ClientKeys:
    return ClientKeys(aws["apigw"], aws["secrets"], aws["secret"])


def _stored(aws: dict[str, Any]) -> dict[str, str]:
    return json.loads(aws["secrets"].get_secret_value(SecretId=aws["secret"])["SecretString"])


def test_create_puts_the_same_key_in_api_gateway_and_the_secret(aws: dict[str, Any]) -> None:
    # When a client key is created
    key = _keys(aws).create("team-a", aws["plan"])
    # Then it is an enabled API Gateway key on the usage plan, with the same value...
    (gateway_key,) = aws["apigw"].get_api_keys(includeValues=True)["items"]
    assert gateway_key["value"] == key and gateway_key["enabled"]
    assert gateway_key["name"] == "orchestra-team-a"
    plan_keys = aws["apigw"].get_usage_plan_keys(usagePlanId=aws["plan"])["items"]
    assert [k["id"] for k in plan_keys] == [gateway_key["id"]]
    # ...and the authorizer, reading the secret, lets it in as that client
    assert _stored(aws) == {"team-a": key}
    assert (
        authorize({"authorizationToken": f"Bearer {key}", "methodArn": ARN}, _stored(aws))[
            "usageIdentifierKey"
        ]
        == key
    )
    assert key.startswith("sk-orch-") and len(key) > 40


def test_names_are_listed_never_keys(
    aws: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    keys = _keys(aws)
    key_a = keys.create("team-a", aws["plan"])
    keys.create("team-b", aws["plan"])
    assert keys.names() == ["team-a", "team-b"]
    assert main(["keys", "list", "--secret-id", aws["secret"]]) == 0
    out = capsys.readouterr().out
    assert "team-a" in out and key_a not in out


def test_a_name_cannot_get_two_keys(aws: dict[str, Any]) -> None:
    keys = _keys(aws)
    keys.create("team-a", aws["plan"])
    with pytest.raises(InvalidRequest, match="already has a key"):
        keys.create("team-a", aws["plan"])
    assert len(aws["apigw"].get_api_keys()["items"]) == 1


def test_a_failed_secret_write_leaves_no_key_behind(
    aws: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given Secrets Manager refusing the write (a missing permission, a throttle)
    def refuse(**_: Any) -> None:
        raise RuntimeError("AccessDeniedException")

    monkeypatch.setattr(aws["secrets"], "put_secret_value", refuse)
    # When a key is created, Then it fails and the API Gateway key is rolled back
    with pytest.raises(RuntimeError):
        _keys(aws).create("team-a", aws["plan"])
    assert aws["apigw"].get_api_keys()["items"] == []


def test_revoke_removes_both(aws: dict[str, Any]) -> None:
    keys = _keys(aws)
    keys.create("team-a", aws["plan"])
    kept = keys.create("team-b", aws["plan"])
    keys.revoke("team-a")
    assert _stored(aws) == {"team-b": kept}
    assert [k["name"] for k in aws["apigw"].get_api_keys()["items"]] == ["orchestra-team-b"]
    with pytest.raises(InvalidRequest, match="no client"):
        keys.revoke("team-a")


def test_cli_create_prints_the_key_once_and_checks_its_arguments(
    aws: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    base = ["keys", "create", "--secret-id", aws["secret"]]
    assert main([*base, "--name", "team-a"]) == 2  # no usage plan
    assert main([*base, "--name", "bad name!", "--usage-plan-id", aws["plan"]]) == 2
    assert main([*base, "--name", "team-a", "--usage-plan-id", aws["plan"]]) == 0
    out = capsys.readouterr().out
    assert _stored(aws)["team-a"] in out


def test_revoke_spares_another_stacks_client_of_the_same_name(aws: dict[str, Any]) -> None:
    # Given another stack in the same account and region with its own "team-a" key
    other = aws["apigw"].create_api_key(
        name="orchestra-team-a", value="sk-orch-other-stack-" + "0" * 30, enabled=True
    )
    keys = _keys(aws)
    keys.create("team-a", aws["plan"])
    # When this stack's team-a is revoked
    assert keys.revoke("team-a") == 1
    # Then only this stack's key is deleted
    assert [k["id"] for k in aws["apigw"].get_api_keys()["items"]] == [other["id"]]


def test_revoke_still_empties_the_secret_when_the_api_key_is_already_gone(
    aws: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a client whose API Gateway key was deleted by hand
    _keys(aws).create("team-a", aws["plan"])
    (gateway_key,) = aws["apigw"].get_api_keys()["items"]
    aws["apigw"].delete_api_key(apiKey=gateway_key["id"])
    # When it is revoked through the CLI, Then the secret forgets it and the CLI says so
    base = ["keys", "revoke", "--name", "team-a", "--secret-id", aws["secret"]]
    assert main([*base, "--usage-plan-id", aws["plan"]]) == 0
    assert "revoked (API key already gone)" in capsys.readouterr().out
    assert _stored(aws) == {}


@pytest.mark.parametrize("value", ["not json", '["team-a"]', "null"])
def test_a_secret_that_is_not_a_json_object_is_refused_without_quoting_it(
    aws: dict[str, Any], value: str
) -> None:
    aws["secrets"].put_secret_value(SecretId=aws["secret"], SecretString=value)
    with pytest.raises(InvalidRequest, match="is not a JSON object") as refused:
        _keys(aws).create("team-a", aws["plan"])
    assert value not in str(refused.value)
    assert aws["apigw"].get_api_keys()["items"] == []


def test_cli_reports_aws_errors_without_a_traceback(
    aws: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a secret id that does not exist, When the keys are listed
    code = main(["keys", "list", "--secret-id", aws["secret"] + "-gone"])
    # Then the CLI fails with AWS's own error code, in one line
    assert code == 1
    assert "ResourceNotFoundException" in capsys.readouterr().err
