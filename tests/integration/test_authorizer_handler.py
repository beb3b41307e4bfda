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


# REQUEST events: the Anthropic and Gemini routes, whose clients send the key in any of four
# places (the event is API Gateway's REST v1 request shape, headers in the client's case)


def _request_event(
    headers: dict[str, str], path: str = "/v1/messages", query: dict[str, str] | None = None
) -> dict[str, Any]:
    event = _event("request_x_api_key")
    kept = {k: v for k, v in event["headers"].items() if k.lower() != "x-api-key"}
    event["headers"] = {**kept, **headers}
    event["multiValueHeaders"] = {k: [v] for k, v in event["headers"].items()}
    event["path"] = event["resource"] = path
    event["queryStringParameters"] = query
    event["multiValueQueryStringParameters"] = {k: [v] for k, v in (query or {}).items()} or None
    return event


GEMINI = "/v1beta/models/gemini-2.0-flash:generateContent"


@pytest.mark.parametrize(
    ("headers", "path", "query"),
    [
        ({"X-Api-Key": SAMPLE_KEY}, "/v1/messages", None),  # the Anthropic SDK
        ({"x-api-key": SAMPLE_KEY}, "/v1/messages/count_tokens", None),
        ({"Authorization": f"Bearer {SAMPLE_KEY}"}, "/v1/messages", None),  # Claude Code
        ({"authorization": f"bearer {SAMPLE_KEY}"}, "/v1/messages", None),
        ({"x-goog-api-key": SAMPLE_KEY}, GEMINI, None),  # google-genai
        ({"X-Goog-Api-Key": SAMPLE_KEY}, GEMINI, None),
        ({}, GEMINI, {"key": SAMPLE_KEY}),  # Gemini REST
        # google-genai on API version v1, a catalog id with a slash
        ({}, "/v1/models/openai/gpt-4o:generateContent", {"key": SAMPLE_KEY}),
    ],
)
def test_a_request_event_finds_the_key_where_its_client_sends_it(
    secret: str, handler: Any, headers: dict[str, str], path: str, query: dict[str, str] | None
) -> None:
    # Given a REQUEST event with the key in one of the places its client puts it
    event = _request_event(headers, path, query)
    # When the authorizer runs, Then the client is allowed on the stage, metered by its key
    answer = handler.handler(event, Context())
    assert answer["principalId"] == "team-a"
    assert answer["usageIdentifierKey"] == SAMPLE_KEY
    statement = answer["policyDocument"]["Statement"][0]
    assert statement["Effect"] == "Allow"
    assert statement["Resource"] == "arn:aws:execute-api:eu-west-1:123456789012:abcdef1234/dev/*/*"
    assert SAMPLE_KEY not in _logs(handler)


@pytest.mark.parametrize(
    ("headers", "path", "query"),
    [
        ({}, "/v1/messages", None),  # no key anywhere
        ({"x-api-key": "sk-orch-not-a-client-key-000000"}, "/v1/messages", None),
        ({}, "/v1/messages", {"key": SAMPLE_KEY}),  # ?key= is Gemini's, under /v1beta/ only
        # Authorization wins when present, as in the app: a non-Bearer one refuses
        ({"Authorization": "Basic dXNlcjpwYXNz", "x-api-key": SAMPLE_KEY}, "/v1/messages", None),
        ({"x-goog-api-key": ""}, GEMINI, None),
    ],
)
def test_a_request_event_without_a_known_key_is_unauthorized(
    secret: str, handler: Any, headers: dict[str, str], path: str, query: dict[str, str] | None
) -> None:
    with pytest.raises(Exception, match=r"^Unauthorized$"):
        handler.handler(_request_event(headers, path, query), Context())
    assert SAMPLE_KEY not in _logs(handler)


def test_the_token_and_request_paths_agree_with_the_app() -> None:
    # Given the app's own reading of the same credentials (api/deps.py)
    from starlette.requests import Request

    from orchestra.api.deps import presented_credentials
    from orchestra.aws_lambda.authorizer import bearer_token, presented_token

    cases = [
        ({"x-api-key": "k1"}, "/v1/messages", ""),
        ({"x-goog-api-key": "k2"}, GEMINI, ""),
        ({}, GEMINI, "key=k3"),
        ({"authorization": "Bearer k4", "x-api-key": "other"}, "/v1/messages", ""),
    ]
    for headers, path, query in cases:
        scope = {
            "type": "http",
            "path": path,
            "query_string": query.encode(),
            "headers": [(k.encode(), v.encode()) for k, v in headers.items()],
        }
        app_view = bearer_token(presented_credentials(Request(scope)))
        params = dict(p.split("=") for p in query.split("&")) if query else None
        # When the authorizer reads the REQUEST event, Then it finds the same key
        assert presented_token(_request_event(headers, path, params)) == app_view
