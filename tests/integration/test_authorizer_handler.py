"""``functions/authorizer/handler.py`` with the sample events, the secret in moto."""

from __future__ import annotations

import importlib.util
import io
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities import parameters
from moto import mock_aws

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


@pytest.fixture
def handler() -> Any:
    spec = importlib.util.spec_from_file_location(
        "authorizer_handler", ROOT / "functions" / "authorizer" / "handler.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["authorizer_handler"] = module
    spec.loader.exec_module(module)
    module.function.logger.registered_handler.stream = io.StringIO()
    return module


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
    # When a request comes, Then API Gateway gets an error (AUTHORIZER_FAILURE -> 503)
    with pytest.raises(RuntimeError, match="client keys unavailable"):
        handler.handler(_event("valid_key"), Context())
    assert "ResourceNotFoundException" in _logs(handler) or "error" in _logs(handler)
