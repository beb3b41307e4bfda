"""OpenTelemetry spans after the GenAI semantic conventions, caught by the SDK's
``InMemorySpanExporter``: one SERVER span per request, one CLIENT span per attempt."""

from __future__ import annotations

import time

import httpx
import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from orchestra.config import Settings
from orchestra.errors import Overloaded
from orchestra.telemetry.otel import OtelObserver, requested
from orchestra.telemetry.record import RequestRecord, current_request
from orchestra.telemetry.setup import tracer_provider

from support.served import served_client

ROUTE = "/v1/chat/completions"


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


async def _post(exporter: InMemorySpanExporter, path: str, body: dict) -> httpx.Response:
    settings = Settings(simulator_latency_scale=0.0, prometheus=False)
    async with served_client(settings, {}, span_exporter=exporter) as client:
        return await client.post(path, json=body)


async def test_a_chat_request_makes_a_server_span_with_genai_attributes(exporter):
    # Given the served app with spans caught in memory
    body = {
        "model": "auto",
        "max_tokens": 64,
        "temperature": 0.25,
        "messages": [{"role": "user", "content": "hi"}],
    }
    # When one chat completion is answered
    response = await _post(exporter, ROUTE, body)
    assert response.status_code == 200
    spans = exporter.get_finished_spans()
    request = next(s for s in spans if s.kind is SpanKind.SERVER)
    # Then the request span follows the conventions: "chat <requested model>"
    assert request.name == "chat auto"
    attributes = dict(request.attributes or {})
    usage = response.json()["usage"]
    assert attributes["gen_ai.operation.name"] == "chat"
    assert attributes["gen_ai.request.model"] == "auto"
    assert attributes["gen_ai.request.max_tokens"] == 64
    assert attributes["gen_ai.request.temperature"] == 0.25
    assert attributes["gen_ai.response.model"] == response.headers["x-orchestra-model"]
    assert attributes["gen_ai.provider.name"] == response.headers["x-orchestra-provider"]
    assert attributes["gen_ai.usage.input_tokens"] == usage["prompt_tokens"]
    assert attributes["gen_ai.usage.output_tokens"] == usage["completion_tokens"]
    reason = response.json()["choices"][0]["finish_reason"]
    assert attributes["gen_ai.response.finish_reasons"] == (reason,)
    assert attributes["http.route"] == ROUTE
    assert "error.type" not in attributes
    # And its one attempt is a CLIENT child span inside it
    (attempt,) = [s for s in spans if s.kind is SpanKind.CLIENT]
    assert attempt.name == f"chat {response.headers['x-orchestra-model']}"
    assert attempt.parent is not None and attempt.parent.span_id == request.context.span_id
    assert attempt.context.trace_id == request.context.trace_id
    assert attempt.attributes["orchestra.attempt.outcome"] == "ok"
    assert request.start_time <= attempt.start_time <= attempt.end_time <= request.end_time


async def test_a_stream_span_ends_with_its_last_byte_and_keeps_its_finish_reason(exporter):
    body = {"model": "auto", "stream": True, "messages": [{"role": "user", "content": "hi"}]}
    # When a streamed answer is relayed to its end
    response = await _post(exporter, ROUTE, body)
    assert response.status_code == 200 and "data: [DONE]" in response.text
    (request,) = [s for s in exporter.get_finished_spans() if s.kind is SpanKind.SERVER]
    # Then the span has the stream's finish reason and its time to first token
    assert request.attributes["gen_ai.response.finish_reasons"] == ("stop",)
    assert request.attributes["orchestra.time_to_first_token_ms"] > 0
    assert request.attributes["gen_ai.usage.output_tokens"] > 0


async def test_a_refused_request_is_an_error_span(exporter):
    # When the body is not JSON (the client's 400)
    settings = Settings(simulator_latency_scale=0.0, prometheus=False)
    async with served_client(settings, {}, span_exporter=exporter) as client:
        response = await client.post(ROUTE, content=b"{nope")
    assert response.status_code == 400
    (request,) = exporter.get_finished_spans()
    # Then the span says so, with the status as error.type, and no attempt was made
    assert request.status.status_code is StatusCode.ERROR
    assert request.attributes["error.type"] == "400"


async def test_get_routes_make_no_span(exporter):
    settings = Settings(simulator_latency_scale=0.0, prometheus=False)
    async with served_client(settings, {}, span_exporter=exporter) as client:
        assert (await client.get("/health")).status_code == 200
    assert exporter.get_finished_spans() == ()


def test_an_attempt_span_starts_when_the_attempt_did():
    # Given a request being served and a failed attempt reported 250 ms after it began
    exporter = InMemorySpanExporter()
    observer = OtelObserver(tracer_provider(None, exporter))
    record = RequestRecord("POST", ROUTE)
    observer.request_started(record)
    token = current_request.set(record)
    try:
        before = time.time_ns()
        error = Overloaded("busy", provider="alpha", model="alpha/m1")
        observer.attempt("alpha/m1", error, 250.0)
        after = time.time_ns()
    finally:
        current_request.reset(token)
    (span,) = exporter.get_finished_spans()
    # Then its span covers those 250 ms, ending when it was reported, as an error
    assert span.end_time - span.start_time == 250_000_000
    assert before <= span.end_time <= after
    assert span.attributes["gen_ai.provider.name"] == "alpha"
    assert span.attributes["error.type"] == error.code
    assert span.status.status_code is StatusCode.ERROR
    assert span.parent is not None and span.parent.span_id == record.span.context.span_id


def test_guardrail_actions_are_span_events_without_the_text():
    exporter = InMemorySpanExporter()
    observer = OtelObserver(tracer_provider(None, exporter))
    record = RequestRecord("POST", ROUTE, status=400)
    observer.request_started(record)
    token = current_request.set(record)
    try:
        observer.guardrail("secrets", "openai_key", "block")
        observer.refused("guardrail_blocked")
    finally:
        current_request.reset(token)
    observer.request_finished(record)
    (span,) = exporter.get_finished_spans()
    (event,) = span.events
    assert event.name == "orchestra.guardrail"
    assert dict(event.attributes) == {"check": "secrets", "rule": "openai_key", "action": "block"}
    assert span.attributes["orchestra.refusal"] == "guardrail_blocked"


def test_the_cache_outcome_is_on_the_request_span():
    exporter = InMemorySpanExporter()
    observer = OtelObserver(tracer_provider(None, exporter))
    record = RequestRecord("POST", ROUTE, status=200)
    observer.request_started(record)
    token = current_request.set(record)
    try:
        observer.cache("hit", "exact", 0.25)
    finally:
        current_request.reset(token)
    observer.request_finished(record)
    (span,) = exporter.get_finished_spans()
    assert span.attributes["orchestra.cache"] == "hit"
    assert span.attributes["orchestra.cache.match"] == "exact"
    assert span.attributes["orchestra.cache.saved_usd"] == 0.25


@pytest.mark.parametrize(
    ("path", "body", "expected"),
    [
        (
            "/v1/messages",
            b'{"model":"claude-x","max_tokens":100,"temperature":1,"messages":[]}',
            {
                "gen_ai.request.model": "claude-x",
                "gen_ai.request.max_tokens": 100,
                "gen_ai.request.temperature": 1.0,
            },
        ),
        (
            "/v1/responses",
            b'{"model":"gpt-x","max_output_tokens":7,"input":"hi"}',
            {"gen_ai.request.model": "gpt-x", "gen_ai.request.max_tokens": 7},
        ),
        (
            "/v1beta/models/gemini-x:streamGenerateContent",
            b'{"contents":[],"generationConfig":{"maxOutputTokens":9,"temperature":0.5}}',
            {
                "gen_ai.request.model": "gemini-x",
                "gen_ai.request.max_tokens": 9,
                "gen_ai.request.temperature": 0.5,
            },
        ),
        ("/v1/chat/completions", b"{broken", {}),
        (
            "/v1/chat/completions",
            b'{"model":"m","temperature":true}',
            {"gen_ai.request.model": "m"},
        ),
    ],
)
def test_request_attributes_are_read_from_every_inbound_format(path, body, expected):
    record = RequestRecord("POST", path, body=bytearray(body))
    assert requested(record) == expected
