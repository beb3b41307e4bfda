"""``functions/generate/handler.py`` invoked with every sample event in ``events/generate``.

AWS mode end to end under moto: DynamoDB tables built from the shared specs, provider keys
and client keys in Secrets Manager, and a real OpenAI-compatible upstream on 127.0.0.1
replaying recorded payloads. Also counts DynamoDB round trips on the generate hot path.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from orchestra.aws_lambda.events import EXPECTED_EVENT
from orchestra.aws_lambda.runtime_api.client import DELIMITER

from support.lambda_api import (
    CallCounter,
    Context,
    body_of,
    close_apps,
    deployed,
    header_of,
    load_handler,
    sample_event,
)
from support.unsupported_events import UNSUPPORTED
from support.upstream import FakeUpstream, Reply, running_in_thread

ROOT = Path(__file__).resolve().parents[2]
EVENTS = ROOT / "events" / "generate"
PROVIDER_KEY = "sk-upstream-secret-9f8e7d6c5b4a"


@pytest.fixture(autouse=True)
def _close_apps() -> Iterator[None]:
    yield
    close_apps()


def _load_handler() -> Any:
    return load_handler("generate")


def _log_lines(module: Any) -> io.StringIO:
    """Point the Powertools log handler (shared with orchestra's logger) at a buffer."""
    buffer = io.StringIO()
    module.function.logger.registered_handler.stream = buffer  # the old stream may be closed
    return buffer


def _providers_file(tmp_path: Path, base_url: str) -> Path:
    path = tmp_path / "orchestra.yaml"
    path.write_text(
        f"""
providers:
  - name: upstream
    type: openai
    base_url: {base_url}
    api_key_env: UPSTREAM_KEY
    models:
      - id: gpt-4o-mini
        context_window: 128000
        input_price: 1.5e-7
        output_price: 6.0e-7
        quality: 1270
"""
    )
    return path


@pytest.fixture
def upstream(recorded: Any) -> Iterator[FakeUpstream]:
    fake = FakeUpstream(default=Reply.json(recorded.bytes("openai/chat_completion_basic.json")))
    with running_in_thread(fake) as started:
        yield started


@pytest.fixture
def aws(tmp_path: Path, upstream: FakeUpstream, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    config = _providers_file(tmp_path, upstream.base_url)
    with deployed(monkeypatch, config, {"UPSTREAM_KEY": PROVIDER_KEY}) as dynamodb:
        yield dynamodb


def _event(name: str) -> dict[str, Any]:
    return sample_event("generate", name)


_body, _header = body_of, header_of


EXPECTED = {
    "rest_v1_chat_completions.json": 200,
    "rest_v1_chat_completions_stream.json": 200,
    "rest_v1_models_rankings.json": 200,
    "rest_v1_malformed_json.json": 400,
    "http_v2_chat_completions.json": 200,
    "http_v2_models.json": 200,
    "http_v2_unknown_model.json": 404,
    "http_v2_health.json": 200,
}


def test_every_sample_event_has_an_expectation() -> None:
    assert sorted(p.name for p in EVENTS.glob("*.json")) == sorted(EXPECTED)


@pytest.mark.parametrize(("name", "status"), sorted(EXPECTED.items()))
def test_handler_answers_each_sample_event(aws: Any, name: str, status: int, capsys: Any) -> None:
    # Given the deployed configuration (AWS mode, tables and secrets under moto)
    handler = _load_handler()
    # When API Gateway invokes the function with the sample event
    response = handler.handler(_event(name), Context())
    # Then the status is right, errors are in OpenAI's shape and no key leaks anywhere
    body = _body(response)
    assert response["statusCode"] == status, body
    if status >= 400:
        assert set(json.loads(body)["error"]) == {"message", "type", "param", "code"}
    logs = capsys.readouterr()
    blob = body + json.dumps(response.get("headers")) + logs.out + logs.err
    assert PROVIDER_KEY not in blob


def test_chat_completion_through_lambda_reaches_the_upstream(
    aws: Any, upstream: FakeUpstream, capsys: Any
) -> None:
    handler = _load_handler()
    logs = _log_lines(handler)
    response = handler.handler(_event("rest_v1_chat_completions.json"), Context())
    body = json.loads(_body(response))
    assert body["object"] == "chat.completion" and body["model"] == "upstream/gpt-4o-mini"
    assert _header(response, "x-orchestra-model") == "upstream/gpt-4o-mini"
    # the provider key came from Secrets Manager and went upstream as a bearer token
    assert upstream.requests[-1]["headers"]["authorization"] == f"Bearer {PROVIDER_KEY}"
    # Powertools Logger put the API Gateway request id on the structured log lines
    lines = [
        json.loads(line)
        for line in (logs.getvalue() + capsys.readouterr().out).splitlines()
        if line.startswith("{")
    ]
    assert any(
        line.get("correlation_id") == "c6af9ac6-7b61-11e6-9a41-93e8deadbeef" for line in lines
    )
    # and Metrics emitted EMF with per-model latency
    emf = [line for line in lines if "_aws" in line]
    assert any("Latency" in line and line.get("Model") == "upstream/gpt-4o-mini" for line in emf)


def test_streamed_completion_is_sse_with_usage_and_done(
    aws: Any, recorded: Any, upstream: FakeUpstream
) -> None:
    upstream.enqueue(Reply.sse(recorded.bytes("openai/chat_completion_stream_include_usage.sse")))
    handler = _load_handler()
    response = handler.handler(_event("rest_v1_chat_completions_stream.json"), Context())
    body = _body(response)
    assert response["statusCode"] == 200
    assert _header(response, "content-type").startswith("text/event-stream")
    frames = [f.removeprefix("data: ") for f in body.strip().split("\n\n")]
    assert frames[-1] == "[DONE]"
    usage = json.loads(frames[-2])["usage"]
    assert usage["prompt_tokens"] == 14 and usage["completion_tokens"] == 8


def test_wrong_client_key_is_401(aws: Any) -> None:
    event = _event("http_v2_chat_completions.json")
    event["headers"]["authorization"] = "Bearer not-a-client-key"
    response = _load_handler().handler(event, Context())
    assert response["statusCode"] == 401
    assert json.loads(_body(response))["error"]["type"] == "authentication_error"


def test_start_up_failure_is_a_clean_503(aws: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORCHESTRA_PROVIDER_KEYS_SECRET", "orch/missing")
    response = _load_handler().handler(_event("http_v2_models.json"), Context())
    assert response["statusCode"] == 503
    assert json.loads(response["body"])["error"]["code"] == "service_unavailable"


def test_hot_path_makes_at_most_one_dynamodb_round_trip(
    aws: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ORCHESTRA_BREAKER_CACHE_S", "0")  # never served from the cache
    counter = CallCounter()
    counter.install(monkeypatch)
    handler = _load_handler()
    event = _event("http_v2_chat_completions.json")
    # Given a warm function (cold start reads secrets and the catalog once)
    assert handler.handler(event, Context())["statusCode"] == 200
    # When further requests arrive with the breaker cache expired every time
    for _ in range(3):
        counter.calls.clear()
        assert handler.handler(event, Context())["statusCode"] == 200
        # Then each request reads the breaker state once and nothing else on the hot path
        assert counter.dynamodb() == ["BatchGetItem"], counter.calls
        assert [c for c in counter.calls if c[0] != "dynamodb"] == []


def test_hot_path_with_a_fresh_breaker_cache_makes_none(
    aws: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    counter = CallCounter()
    counter.install(monkeypatch)
    handler = _load_handler()
    event = _event("http_v2_chat_completions.json")
    assert handler.handler(event, Context())["statusCode"] == 200
    counter.calls.clear()
    assert handler.handler(event, Context())["statusCode"] == 200
    assert counter.dynamodb() == []


def test_the_streamed_entry_point_keeps_one_round_trip_and_the_stream_format(
    aws: Any, recorded: Any, upstream: FakeUpstream, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``handler.stream``: what the streaming runtime calls deployed (AWS mode, moto)."""
    monkeypatch.setenv("ORCHESTRA_BREAKER_CACHE_S", "0")
    counter = CallCounter()
    counter.install(monkeypatch)
    handler = _load_handler()
    event = _event("rest_v1_chat_completions_stream.json")
    sse = recorded.bytes("openai/chat_completion_stream_include_usage.sse")
    for attempt in range(3):  # the first is the cold start
        upstream.enqueue(Reply.sse(sse))
        counter.calls.clear()
        writes: list[bytes] = []
        handler.handler.stream(event, Context(), writes.append)
        head, body = b"".join(writes).split(DELIMITER, 1)
        assert json.loads(head)["statusCode"] == 200
        assert json.loads(head)["headers"]["content-type"].startswith("text/event-stream")
        assert body.endswith(b"data: [DONE]\n\n") and len(writes) > 3  # written piece by piece
        if attempt:
            assert counter.dynamodb() == ["BatchGetItem"], counter.calls
            assert [c for c in counter.calls if c[0] != "dynamodb"] == []


def _answer(handler: Any, event: Any, way: str) -> tuple[int, dict[str, Any]]:
    """The function's status and JSON body for ``event``, answered whole or streamed."""
    if way == "buffered":
        response = handler.handler(event, Context())
        return response["statusCode"], json.loads(response["body"])
    writes: list[bytes] = []
    handler.handler.stream(event, Context(), writes.append)
    head, body = b"".join(writes).split(DELIMITER, 1)
    return json.loads(head)["statusCode"], json.loads(body)


@pytest.mark.parametrize("way", ["buffered", "streamed"])
def test_unsupported_events_are_a_clean_400_logged_at_info(aws: Any, way: str, capsys: Any) -> None:
    # Given the deployed function, warm, in one execution environment
    handler = _load_handler()
    logs = _log_lines(handler)
    assert _answer(handler, _event("http_v2_health.json"), way)[0] == 200
    for name, (event, reason) in UNSUPPORTED.items():
        # When an event that is not a usable API Gateway proxy request arrives
        status, body = _answer(handler, event, way)
        # Then the answer is a 400 in OpenAI's shape saying why, never a 500
        assert status == 400, name
        assert body == {
            "error": {
                "message": f"unsupported event: {reason}; {EXPECTED_EVENT}",
                "type": "invalid_request_error",
                "param": None,
                "code": "invalid_request",
            }
        }, name
    # and each is logged at info, with no traceback and nothing at warning or above
    lines = [
        json.loads(line)
        for line in (logs.getvalue() + capsys.readouterr().out).splitlines()
        if line.startswith("{")
    ]
    logged = [line for line in lines if "level" in line]  # the rest are EMF metrics
    refused = [line["message"] for line in logged if "unsupported" in str(line["message"])]
    assert refused == [f"unsupported event: {reason}" for _, reason in UNSUPPORTED.values()]
    assert {line["level"] for line in logged} == {"INFO"}
    assert not [line for line in logged if "exception" in line or "Traceback" in str(line)]


def test_deployed_health_says_nothing_about_the_configuration(aws: Any) -> None:
    handler = _load_handler()
    response = handler.handler(_event("http_v2_health.json"), Context())
    assert response["statusCode"] == 200
    assert json.loads(_body(response)) == {"status": "ok"}
