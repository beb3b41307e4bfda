"""The Anthropic Messages adapter against recorded Anthropic traffic."""

from __future__ import annotations

import json

import pytest

from orchestra.errors import (
    ContextLengthExceeded,
    MalformedResponse,
    ModelUnavailable,
    Overloaded,
    ProviderAuthError,
    ProviderBadRequest,
    RateLimited,
)
from orchestra.providers.anthropic import AnthropicProvider, parse_response, to_body
from orchestra.providers.base import CallOptions, ProviderConfig
from orchestra.schemas.chat import ChatRequest

from support.replay import Replay, arguments_by_index, assert_chunk_convention, collect, text_of

KEY = "sk-ant-test-0123456789abcdef"
SSE = {"content-type": "text/event-stream"}
JSON = {"content-type": "application/json"}


def _provider(replay: Replay) -> AnthropicProvider:
    config = ProviderConfig(name="anthropic", type="anthropic", api_key=KEY)
    return AnthropicProvider(config, replay.clients())


def _request(**extra: object) -> ChatRequest:
    return ChatRequest.model_validate(
        {"model": "anthropic/claude", "messages": [{"role": "user", "content": "hi"}], **extra}
    )


def test_translation_of_a_tool_conversation():
    # Given an OpenAI conversation with system prompt, a tool call and its result
    request = ChatRequest.model_validate(
        {
            "model": "auto",
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "developer", "content": "Use tools."},
                {"role": "user", "content": "Weather in Paris?"},
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "call_1",
                            "type": "function",
                            "function": {"name": "weather", "arguments": '{"city":"Paris"}'},
                        }
                    ],
                },
                {"role": "tool", "tool_call_id": "call_1", "content": "18C"},
                {"role": "user", "content": "And tomorrow?"},
            ],
            "tools": [{"type": "function", "function": {"name": "weather", "parameters": {}}}],
            "tool_choice": "required",
            "temperature": 1.5,
            "stop": "END",
            "max_tokens": 100,
        }
    )
    # When it is translated for the Messages API
    body = to_body(request, "claude-x", stream=False)
    # Then system joins, tool use/result blocks appear and the user turns merge
    assert body["system"] == "Be brief.\n\nUse tools."
    roles = [m["role"] for m in body["messages"]]
    assert roles == ["user", "assistant", "user"]
    assert body["messages"][1]["content"][0] == {
        "type": "tool_use",
        "id": "call_1",
        "name": "weather",
        "input": {"city": "Paris"},
    }
    last = body["messages"][2]["content"]
    assert last[0] == {"type": "tool_result", "tool_use_id": "call_1", "content": "18C"}
    assert last[1] == {"type": "text", "text": "And tomorrow?"}
    assert body["tool_choice"] == {"type": "any"}
    assert body["temperature"] == 1.0 and body["stop_sequences"] == ["END"]
    assert body["max_tokens"] == 100


def test_images_become_image_blocks():
    request = _request(
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "what is this"},
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
                    {"type": "image_url", "image_url": {"url": "https://x.test/a.jpg"}},
                ],
            }
        ]
    )
    blocks = to_body(request, "c", stream=False)["messages"][0]["content"]
    assert blocks[1]["source"] == {"type": "base64", "media_type": "image/png", "data": "AAAA"}
    assert blocks[2]["source"] == {"type": "url", "url": "https://x.test/a.jpg"}


def test_parse_basic_and_tool_use(recorded):
    basic = parse_response(recorded.json("anthropic/messages_basic.json"), "c")
    assert basic.text() and basic.choices[0].finish_reason == "stop"
    tools = parse_response(recorded.json("anthropic/messages_tool_use.json"), "c")
    calls = tools.choices[0].message.tool_calls or []
    assert len(calls) == 4 and tools.choices[0].finish_reason == "tool_calls"
    assert json.loads(calls[0].function.arguments) == {"name": "Alice"}
    assert tools.text().startswith("I'll help you find out")


async def test_complete_sends_the_key_header(recorded):
    replay = Replay(body=recorded.bytes("anthropic/messages_basic.json"), headers=JSON)
    await _provider(replay).complete(_request(), "claude-x", CallOptions())
    sent = replay.requests[0]
    assert str(sent.url) == "https://api.anthropic.com/v1/messages"
    assert sent.headers["x-api-key"] == KEY and sent.headers["anthropic-version"]
    assert "authorization" not in sent.headers


@pytest.mark.parametrize("piece", [None, 3, 40])
async def test_text_stream_with_padding_and_pings(recorded, piece):
    raw = recorded.bytes("anthropic/messages_stream_text.sse")
    replay = Replay(body=raw, headers=SSE, piece=piece)
    chunks = await collect(_provider(replay).stream(_request(), "c", CallOptions()))
    assert_chunk_convention(chunks)
    assert text_of(chunks) == "2"
    usage = chunks[-1].usage
    assert usage is not None and (usage.prompt_tokens, usage.completion_tokens) == (20, 5)


async def test_text_then_tool_use_stream(recorded):
    raw = recorded.bytes("anthropic/messages_stream_text_then_tool_use.sse")
    chunks = await collect(
        _provider(Replay(body=raw, headers=SSE, piece=25)).stream(_request(), "c", CallOptions())
    )
    assert_chunk_convention(chunks)
    assert text_of(chunks).startswith("I'll help you find out")
    calls = arguments_by_index(chunks)
    assert list(calls) == [0]
    assert calls[0]["id"].startswith("toolu_") and calls[0]["name"]
    assert isinstance(json.loads(calls[0]["arguments"]), dict)
    finish = [
        c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason
    ]
    assert finish == ["tool_calls"]


async def test_tool_without_arguments_gets_an_empty_object(recorded):
    raw = recorded.bytes("anthropic/messages_stream_tool_use_no_args.sse")
    chunks = await collect(
        _provider(Replay(body=raw, headers=SSE)).stream(_request(), "c", CallOptions())
    )
    assert arguments_by_index(chunks)[0]["arguments"] == "{}"


async def test_stream_ending_in_error_event_raises_typed(recorded):
    # Given a stream that starts, then reports overloaded_error and never sends message_stop
    raw = recorded.bytes("anthropic/messages_stream_text.sse")
    head = raw[: raw.index(b"event: message_delta")]
    error = recorded.bytes("anthropic/error_529_overloaded_error.json")
    body = head + b"event: error\ndata: " + error.strip() + b"\n\n"
    with pytest.raises(Overloaded):
        await collect(
            _provider(Replay(body=body, headers=SSE)).stream(_request(), "c", CallOptions())
        )


async def test_truncated_stream_raises(recorded):
    raw = recorded.bytes("anthropic/messages_stream_text.sse")
    cut = raw[: raw.index(b"event: message_stop")]
    with pytest.raises(MalformedResponse):
        await collect(
            _provider(Replay(body=cut, headers=SSE)).stream(_request(), "c", CallOptions())
        )


ERRORS = [
    ("anthropic/error_400_invalid_request_error.json", 400, ProviderBadRequest),
    ("anthropic/error_404_not_found_error.json", 404, ModelUnavailable),
    ("anthropic/error_429_rate_limit_error.json", 429, RateLimited),
    ("anthropic/error_529_overloaded_error.json", 529, Overloaded),
]


@pytest.mark.parametrize(("fixture", "status", "expected"), ERRORS)
@pytest.mark.parametrize("streaming", [False, True])
async def test_recorded_errors_map_to_typed_errors(recorded, fixture, status, expected, streaming):
    replay = Replay(status=status, body=recorded.bytes(fixture), headers=JSON)
    provider = _provider(replay)
    with pytest.raises(expected) as caught:
        if streaming:
            await collect(provider.stream(_request(), "c", CallOptions()))
        else:
            await provider.complete(_request(), "c", CallOptions())
    assert caught.value.upstream_status == status and KEY not in str(caught.value)


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (
            400,
            {
                "type": "error",
                "error": {
                    "type": "invalid_request_error",
                    "message": "prompt is too long: 210000 tokens > 200000 maximum",
                },
            },
            ContextLengthExceeded,
        ),
        (
            401,
            {
                "type": "error",
                "error": {"type": "authentication_error", "message": "invalid x-api-key"},
            },
            ProviderAuthError,
        ),
    ],
)
async def test_context_and_auth_errors(status, body, expected):
    replay = Replay(status=status, body=json.dumps(body).encode(), headers=JSON)
    with pytest.raises(expected):
        await _provider(replay).complete(_request(), "c", CallOptions())


async def test_rate_limit_retry_after_header(recorded):
    replay = Replay(
        status=429,
        body=recorded.bytes("anthropic/error_429_rate_limit_error.json"),
        headers={**JSON, "retry-after": "7"},
    )
    with pytest.raises(RateLimited) as caught:
        await _provider(replay).complete(_request(), "c", CallOptions())
    assert caught.value.retry_after == 7.0
