"""The OpenAI-compatible adapter against recorded OpenAI and OpenRouter traffic."""

from __future__ import annotations

import json

import httpx
import pytest

from orchestra.errors import (
    ConnectionFailed,
    ContextLengthExceeded,
    MalformedResponse,
    ModelUnavailable,
    Overloaded,
    ProviderAuthError,
    ProviderBadRequest,
    ProviderTimeout,
    RateLimited,
    ServerError,
)
from orchestra.providers.base import CallOptions, ProviderConfig
from orchestra.providers.openai import OpenAIProvider, parse_chunk, parse_response, to_body
from orchestra.schemas.chat import ChatRequest

from support.replay import (
    Replay,
    arguments_by_index,
    assert_chunk_convention,
    collect,
    stream_cut_by_an_in_band_error,
    text_of,
)

KEY = "sk-test-openai-0123456789abcdef"
SSE = {"content-type": "text/event-stream"}
JSON = {"content-type": "application/json"}


def _provider(replay: Replay, name: str = "openai") -> OpenAIProvider:
    config = ProviderConfig(
        name=name, type="openai", base_url="https://api.example.test/v1", api_key=KEY
    )
    return OpenAIProvider(config, replay.clients())


def _request(**extra: object) -> ChatRequest:
    return ChatRequest.model_validate(
        {"model": "openai/gpt-4o", "messages": [{"role": "user", "content": "hi"}], **extra}
    )


def test_body_forwards_vendor_fields_but_never_orchestra_ones():
    request = _request(
        temperature=0.2, fallbacks=["x/y"], profile="speed", reasoning={"effort": "low"}
    )
    body = to_body(request, "gpt-4o", stream=True)
    assert body["model"] == "gpt-4o"
    assert body["temperature"] == 0.2
    assert body["reasoning"] == {"effort": "low"}  # OpenRouter-style extras pass through
    assert "fallbacks" not in body and "profile" not in body
    assert body["stream_options"] == {"include_usage": True}  # usage is always captured


def test_parse_basic_completion(recorded):
    response = parse_response(recorded.json("openai/chat_completion_basic.json"), "gpt")
    assert response.text()
    assert response.choices[0].finish_reason == "stop"
    assert response.usage is not None and response.usage.total_tokens > 0


def test_parse_parallel_tool_calls(recorded):
    response = parse_response(recorded.json("openai/chat_completion_tool_calls.json"), "gpt")
    calls = response.choices[0].message.tool_calls or []
    assert len(calls) == 2
    assert all(json.loads(c.function.arguments) is not None for c in calls)
    assert response.choices[0].finish_reason == "tool_calls"


def test_parse_openrouter_completion_with_cost(recorded):
    response = parse_response(recorded.json("openrouter/chat_completion_with_cost.json"), "m")
    assert response.usage is not None and response.usage.prompt_tokens > 0


def test_chunk_drops_repeated_roles_and_empty_deltas():
    data = {"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]}
    assert parse_chunk(data, "m", first=False) is None
    first = parse_chunk(data, "m", first=True)
    assert first is not None and first.choices[0].delta.role == "assistant"


async def test_complete_sends_bearer_key_and_parses(recorded):
    replay = Replay(body=recorded.bytes("openai/chat_completion_basic.json"), headers=JSON)
    response = await _provider(replay).complete(_request(), "gpt-4o-mini", CallOptions())
    sent = replay.requests[0]
    assert sent.url == "https://api.example.test/v1/chat/completions"
    assert sent.headers["authorization"] == f"Bearer {KEY}"
    assert response.model == "gpt-4o-mini" and response.text()


@pytest.mark.parametrize("piece", [None, 1, 7, 64])
async def test_stream_with_usage_replays_in_any_piece_size(recorded, piece):
    # Given the recorded OpenAI stream, delivered whole or a few bytes at a time
    raw = recorded.bytes("openai/chat_completion_stream_include_usage.sse")
    replay = Replay(body=raw, headers=SSE, piece=piece)
    # When it streams through the adapter
    chunks = await collect(_provider(replay).stream(_request(stream=True), "gpt-4o", CallOptions()))
    # Then the chunk convention holds, text is whole and usage is the recorded one
    assert_chunk_convention(chunks)
    assert text_of(chunks) == "The capital of Mexico is Mexico City."
    usage = chunks[-1].usage
    assert usage is not None and (usage.prompt_tokens, usage.completion_tokens) == (14, 8)


async def test_stream_tool_call_arguments_concatenate_by_index(recorded):
    raw = recorded.bytes("openai/chat_completion_stream_tool_calls.sse")
    replay = Replay(body=raw, headers=SSE, piece=50)
    chunks = await collect(_provider(replay).stream(_request(), "gpt-4o", CallOptions()))
    assert_chunk_convention(chunks)
    calls = arguments_by_index(chunks)
    assert calls and all(c["id"] and c["name"] for c in calls.values())
    assert all(isinstance(json.loads(c["arguments"]), dict) for c in calls.values())


async def test_openrouter_stream_skips_comments_and_repeated_roles(recorded):
    raw = recorded.bytes("openrouter/chat_completion_stream.sse")
    replay = Replay(body=raw, headers=SSE, piece=16)
    chunks = await collect(_provider(replay, "openrouter").stream(_request(), "m", CallOptions()))
    assert_chunk_convention(chunks)
    assert text_of(chunks) == "Hello!"
    assert chunks[-1].usage is not None and chunks[-1].usage.prompt_tokens == 254


async def test_openrouter_in_band_error_after_finish_raises_typed():
    # Given a 200 stream that reports a finish and then an error object (OpenRouter quirk)
    raw = (
        b'data: {"id":"g","choices":[{"index":0,"delta":{"role":"assistant","content":"Hi"}}]}\n\n'
        b'data: {"id":"g","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\n'
        b'data: {"error":{"code":502,"message":"Provider returned error"}}\n\n'
    )
    replay = Replay(body=raw, headers=SSE)
    with pytest.raises(ServerError):
        await collect(_provider(replay, "openrouter").stream(_request(), "m", CallOptions()))


async def test_openrouter_in_band_error_is_preceded_by_no_finish(recorded):
    raw = stream_cut_by_an_in_band_error(recorded.bytes("openrouter/chat_completion_stream.sse"))
    stream = _provider(Replay(body=raw, headers=SSE, piece=16), "openrouter").stream(
        _request(), "m", CallOptions()
    )
    # When a client reads the stream until it fails
    seen = []
    with pytest.raises(ProviderBadRequest) as failed:
        async for chunk in stream:
            seen.append(chunk)
    # Then it saw no finish_reason before the error, which keeps the upstream's words
    assert not [c for c in seen if any(choice.finish_reason for choice in c.choices)]
    assert "Token limit reached" in failed.value.message


async def test_openrouter_finish_is_passed_on_once_the_stream_ends_cleanly(recorded):
    raw = recorded.bytes("openrouter/chat_completion_stream.sse")
    replay = Replay(body=raw.replace(b'"finish_reason":"stop"', b'"finish_reason":"length"'))
    replay.headers = SSE
    chunks = await collect(_provider(replay, "openrouter").stream(_request(), "m", CallOptions()))
    assert_chunk_convention(chunks)
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "length"


async def test_truncated_stream_raises_instead_of_ending_quietly(recorded):
    raw = recorded.bytes("openai/chat_completion_stream_include_usage.sse")
    cut = raw[: raw.index(b'"finish_reason":"stop"') - 200]
    replay = Replay(body=cut, headers=SSE)
    with pytest.raises(MalformedResponse):
        await collect(_provider(replay).stream(_request(), "gpt-4o", CallOptions()))


async def test_stream_without_usage_gets_an_estimate():
    raw = (
        b'data: {"id":"x","choices":[{"index":0,"delta":{"role":"assistant","content":"Hello"}}]}\n\n'
        b'data: {"id":"x","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\n'
        b"data: [DONE]\n\n"
    )
    chunks = await collect(
        _provider(Replay(body=raw, headers=SSE)).stream(_request(), "m", CallOptions())
    )
    assert_chunk_convention(chunks)
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0


async def test_server_that_ignores_stream_flag_still_streams(recorded):
    replay = Replay(body=recorded.bytes("openai/chat_completion_basic.json"), headers=JSON)
    chunks = await collect(_provider(replay).stream(_request(), "m", CallOptions()))
    assert_chunk_convention(chunks)
    assert text_of(chunks)


ERRORS = [
    ("openai/error_400_context_length_exceeded.json", 400, ContextLengthExceeded),
    ("openai/error_400_unsupported_parameter.json", 400, ProviderBadRequest),
    ("openai/error_400_unsupported_value.json", 400, ProviderBadRequest),
    ("openai/error_401_invalid_api_key.json", 401, ProviderAuthError),
    ("openai/error_404_model_not_found.json", 404, ModelUnavailable),
    ("openai/error_429_rate_limit_exceeded.json", 429, RateLimited),
    ("openai/error_500_server_error.json", 500, ServerError),
    ("openai/error_503_overloaded.json", 503, Overloaded),
    ("openrouter/error_401_no_auth.json", 401, ProviderAuthError),
    ("openrouter/error_429_provider_rate_limited.json", 429, RateLimited),
]


@pytest.mark.parametrize(("fixture", "status", "expected"), ERRORS)
@pytest.mark.parametrize("streaming", [False, True])
async def test_recorded_errors_map_to_typed_errors(recorded, fixture, status, expected, streaming):
    # Given a recorded error body (errors on stream requests come back as plain JSON)
    replay = Replay(status=status, body=recorded.bytes(fixture), headers=JSON)
    provider = _provider(replay)
    # When the adapter calls the upstream
    with pytest.raises(expected) as caught:
        if streaming:
            await collect(provider.stream(_request(), "gpt-4o", CallOptions()))
        else:
            await provider.complete(_request(), "gpt-4o", CallOptions())
    # Then the typed error carries the upstream status and never the key
    assert caught.value.upstream_status == status
    assert KEY not in str(caught.value)


async def test_retry_after_header_is_honoured(recorded):
    replay = Replay(
        status=429,
        body=recorded.bytes("openai/error_429_rate_limit_exceeded.json"),
        headers={**JSON, "retry-after-ms": "1500"},
    )
    with pytest.raises(RateLimited) as caught:
        await _provider(replay).complete(_request(), "gpt-4o", CallOptions())
    assert caught.value.retry_after == pytest.approx(1.5)


async def test_malformed_body_is_typed():
    replay = Replay(body=b"<html>502 Bad Gateway</html>", headers={"content-type": "text/html"})
    with pytest.raises(MalformedResponse):
        await _provider(replay).complete(_request(), "gpt-4o", CallOptions())


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (httpx.ReadTimeout("slow"), ProviderTimeout),
        (httpx.ConnectError("refused"), ConnectionFailed),
        (httpx.RemoteProtocolError("reset"), ConnectionFailed),
    ],
)
async def test_transport_failures_are_typed(error, expected):
    replay = Replay(error=error)
    with pytest.raises(expected):
        await _provider(replay).complete(_request(), "gpt-4o", CallOptions())
