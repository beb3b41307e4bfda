"""``functions/authorizer/handler.py`` with the sample events, the secret in moto."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities import parameters
from moto import mock_aws

from orchestra.aws_lambda.authorizer import KeysUnavailable, Refused

from support.lambda_api import import_handler

ROOT = Path(__file__).resolve().parents[2]
EVENTS = ROOT / "events" / "authorizer"
SAMPLE_KEY = "sk-orch-sample-team-a-0123456789abcdef"


class Context:
    function_name = "authorizer"
    memory_limit_in_mb = 256
    invoked_function_arn = "arn:aws:lambda:eu-west-1:123456789012:function:authorizer"
    aws_request_id = "req-1"


def _event(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / f"{name}.json").read_text())


@pytest.fixture
def secret(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(var, "testing")
    with mock_aws():
        arn = boto3.client("secretsmanager").create_secret(
            Name="client-keys", SecretString=json.dumps({"team-a": SAMPLE_KEY, "team-b": "x" * 30})
        )["ARN"]
        monkeypatch.setenv("ORCHESTRA_API_KEYS_SECRET", arn)
        parameters.clear_caches()
        yield arn
        parameters.clear_caches()


def _load_handler() -> Any:
    module = import_handler("authorizer")
    module.function.logger.registered_handler.stream = io.StringIO()
    return module


@pytest.fixture
def handler() -> Any:
    return _load_handler()


def _logs(handler: Any) -> str:
    return str(handler.function.logger.registered_handler.stream.getvalue())


@pytest.mark.parametrize("name", ["valid_key", "lowercase_bearer"])
def test_a_known_key_is_allowed(secret: str, handler: Any, name: str) -> None:
    answer = handler.handler(_event(name), Context())
    assert answer["principalId"] == "team-a"
    assert answer["usageIdentifierKey"] == SAMPLE_KEY
    assert answer["policyDocument"]["Statement"][0]["Effect"] == "Allow"
    assert SAMPLE_KEY not in _logs(handler)


@pytest.mark.parametrize("name", ["wrong_key", "missing_bearer"])
def test_anything_else_is_unauthorized(secret: str, handler: Any, name: str) -> None:
    with pytest.raises(Exception, match=r"^Unauthorized$"):
        handler.handler(_event(name), Context())
    assert SAMPLE_KEY not in _logs(handler)


def test_the_secret_is_read_once_per_cache_period(secret: str, handler: Any) -> None:
    calls: list[str] = []
    original = parameters.SecretsProvider._get

    def counting(self: Any, name: str, **kwargs: Any) -> Any:
        calls.append(name)
        return original(self, name, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(parameters.SecretsProvider, "_get", counting)
        for _ in range(5):
            handler.handler(_event("valid_key"), Context())
    assert calls == [secret]


def test_an_unreadable_secret_fails_the_authorizer_without_leaking(
    secret: str, handler: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a secret id that does not exist (a wrong ARN in the stack, a deleted secret)
    monkeypatch.setenv("ORCHESTRA_API_KEYS_SECRET", secret + "-gone")
    # When a request comes, Then API Gateway gets an error (500, not a 401) ...
    with pytest.raises(KeysUnavailable, match=r"^client keys unavailable$"):
        handler.handler(_event("valid_key"), Context())
    # ... and the log says why, with neither the token nor any stored key
    record = json.loads(_logs(handler).strip().splitlines()[-1])
    assert record["message"] == "client keys unreadable"
    assert record["error"] == "GetParameterError"
    assert record["aws_error_code"] == "ResourceNotFoundException"
    assert SAMPLE_KEY not in _logs(handler) and "x" * 30 not in _logs(handler)


@pytest.mark.parametrize("value", ["not json", '["a list"]'])
def test_a_secret_that_is_not_a_json_object_fails_the_authorizer(
    secret: str, handler: Any, value: str
) -> None:
    # Given a secret overwritten by hand with something else than {"name": "key"}
    boto3.client("secretsmanager").put_secret_value(SecretId=secret, SecretString=value)
    # When a request comes, Then it fails (500), logging the type of failure only
    with pytest.raises(KeysUnavailable):
        handler.handler(_event("valid_key"), Context())
    assert "client keys unreadable" in _logs(handler) and value not in _logs(handler)


def test_an_unset_secret_variable_fails_the_authorizer(
    secret: str, handler: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ORCHESTRA_API_KEYS_SECRET")
    with pytest.raises(KeysUnavailable):
        handler.handler(_event("valid_key"), Context())
    assert "ORCHESTRA_API_KEYS_SECRET is not set" in _logs(handler)


def test_the_event_is_never_logged_even_when_powertools_is_told_to(
    secret: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given Powertools' switch to log every event, set on the function by mistake
    monkeypatch.setenv("POWERTOOLS_LOGGER_LOG_EVENT", "true")
    monkeypatch.setenv("POWERTOOLS_LOG_LEVEL", "DEBUG")
    module = _load_handler()
    # When a good and a bad key come, Then neither token reaches the log
    module.handler(_event("valid_key"), Context())
    with pytest.raises(Refused):
        module.handler(_event("wrong_key"), Context())
    logs = _logs(module)
    assert "allowed" in logs and "refused" in logs
    assert SAMPLE_KEY not in logs and _event("wrong_key")["authorizationToken"][7:] not in logs
