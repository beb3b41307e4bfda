"""The Gemini adapter against recorded Gemini traffic."""

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
)
from orchestra.providers.base import CallOptions, ProviderConfig
from orchestra.providers.gemini import GeminiProvider, parse_response
from orchestra.providers.gemini_request import SIGNATURE_MARK, clean_schema, to_body
from orchestra.schemas.chat import ChatRequest

from support.replay import Replay, arguments_by_index, assert_chunk_convention, collect, text_of

KEY = "AIza-test-0123456789abcdefghijk"
SSE = {"content-type": "text/event-stream"}
JSON = {"content-type": "application/json"}


def _provider(replay: Replay) -> GeminiProvider:
    config = ProviderConfig(name="gemini", type="gemini", api_key=KEY)
    return GeminiProvider(config, replay.clients())


def _request(**extra: object) -> ChatRequest:
    return ChatRequest.model_validate(
        {"model": "gemini/flash", "messages": [{"role": "user", "content": "hi"}], **extra}
    )


def test_translation_roles_system_tools_and_config():
    request = _request(
        messages=[
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Weather?"},
            {
                "role": "user",
                "content": [
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,QUJD"}}
                ],
            },
            {
                "role": "assistant",
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "weather", "arguments": '{"city":"Paris"}'},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "call_1", "content": "18C"},
        ],
        tools=[
            {
                "type": "function",
                "function": {
                    "name": "weather",
                    "description": "Weather now",
                    "parameters": {
                        "type": "object",
                        "properties": {"city": {"type": "string"}},
                        "additionalProperties": False,
                        "$schema": "http://json-schema.org/draft-07/schema#",
                    },
                },
            }
        ],
        tool_choice={"type": "function", "function": {"name": "weather"}},
        temperature=0.3,
        max_tokens=50,
        stop=["END"],
        response_format={"type": "json_object"},
    )
    body = to_body(request, "gemini-2.5-flash")
    assert body["systemInstruction"] == {"parts": [{"text": "Be brief."}]}
    assert [c["role"] for c in body["contents"]] == ["user", "model", "user"]
    assert body["contents"][0]["parts"][1] == {
        "inlineData": {"mimeType": "image/png", "data": "QUJD"}
    }
    assert body["contents"][1]["parts"][0] == {
        "functionCall": {"name": "weather", "args": {"city": "Paris"}}
    }
    response = body["contents"][2]["parts"][0]["functionResponse"]
    assert response == {"name": "weather", "response": {"result": "18C"}}
    params = body["tools"][0]["functionDeclarations"][0]["parameters"]
    assert "additionalProperties" not in params and "$schema" not in params
    assert body["toolConfig"] == {
        "functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["weather"]}
    }
    config = body["generationConfig"]
    assert config == {
        "temperature": 0.3,
        "maxOutputTokens": 50,
        "stopSequences": ["END"],
        "responseMimeType": "application/json",
    }


def test_clean_schema_is_recursive():
    schema = {
        "type": "object",
        "properties": {"a": {"type": "object", "additionalProperties": True}},
    }
    assert clean_schema(schema) == {"type": "object", "properties": {"a": {"type": "object"}}}


def test_parse_text_response_counts_thoughts_as_output(recorded):
    body = recorded.json("gemini/generate_content.json")
    response = parse_response(body, "gemini-2.5-flash")
    meta = body["usageMetadata"]
    assert response.text() and response.choices[0].finish_reason == "stop"
    assert response.usage is not None
    assert response.usage.prompt_tokens == meta["promptTokenCount"]
    assert response.usage.completion_tokens == meta["candidatesTokenCount"] + meta.get(
        "thoughtsTokenCount", 0
    )


def test_function_calls_keep_their_thought_signature_round_trip(recorded):
    # Given a Gemini 3 answer whose first function call carries a thought signature
    body = recorded.json("gemini/generate_content_function_calls.json")
    signature = body["candidates"][0]["content"]["parts"][0]["thoughtSignature"]
    response = parse_response(body, "gemini-3-flash-preview")
    calls = response.choices[0].message.tool_calls or []
    assert len(calls) == 3 and response.choices[0].finish_reason == "tool_calls"
    assert calls[0].id.endswith(SIGNATURE_MARK + signature)
    assert SIGNATURE_MARK not in calls[1].id
    # When the client sends the assistant turn back with tool results
    history = _request(
        messages=[
            {"role": "user", "content": "topics"},
            {"role": "assistant", "tool_calls": [c.model_dump() for c in calls]},
            *[{"role": "tool", "tool_call_id": c.id, "content": "ok"} for c in calls],
        ]
    )
    parts = to_body(history, "gemini-3-flash-preview")["contents"][1]["parts"]
    # Then the signature is back on the first functionCall part, and only there
    assert parts[0]["thoughtSignature"] == signature
    assert all("thoughtSignature" not in p for p in parts[1:])


async def test_complete_uses_header_key_not_query(recorded):
    replay = Replay(body=recorded.bytes("gemini/generate_content.json"), headers=JSON)
    await _provider(replay).complete(_request(), "gemini-2.5-flash", CallOptions())
    sent = replay.requests[0]
    assert sent.url.path == "/v1beta/models/gemini-2.5-flash:generateContent"
    assert sent.headers["x-goog-api-key"] == KEY and "key=" not in str(sent.url)


@pytest.mark.parametrize("piece", [None, 7, 100])
async def test_sse_stream_takes_the_last_cumulative_usage(recorded, piece):
    raw = recorded.bytes("gemini/stream_generate_content_alt_sse.sse")
    events = [
        json.loads(block.removeprefix(b"data: "))
        for block in raw.split(b"\r\n\r\n")
        if block.strip()
    ]
    expected_text = "".join(
        p["text"] for e in events for p in e["candidates"][0]["content"]["parts"]
    )
    last = events[-1]["usageMetadata"]
    replay = Replay(body=raw, headers=SSE, piece=piece)
    chunks = await collect(_provider(replay).stream(_request(), "gemini-2.5-flash", CallOptions()))
    assert_chunk_convention(chunks)
    assert text_of(chunks) == expected_text
    usage = chunks[-1].usage
    assert usage is not None and usage.prompt_tokens == last["promptTokenCount"]
    assert usage.completion_tokens == last["candidatesTokenCount"] + last["thoughtsTokenCount"]
    assert replay.requests[0].url.params["alt"] == "sse"


async def test_stream_of_function_calls(recorded):
    body = recorded.json("gemini/generate_content_function_calls.json")
    raw = b"data: " + json.dumps(body).encode() + b"\r\n\r\n"
    chunks = await collect(
        _provider(Replay(body=raw, headers=SSE)).stream(_request(), "g", CallOptions())
    )
    assert_chunk_convention(chunks)
    calls = arguments_by_index(chunks)
    assert sorted(calls) == [0, 1, 2] and all(c["name"] == "generate_topic" for c in calls.values())


async def test_truncated_stream_raises(recorded):
    raw = recorded.bytes("gemini/stream_generate_content_alt_sse.sse")
    cut = raw[: raw.rindex(b"data: ")]
    with pytest.raises(MalformedResponse):
        await collect(
            _provider(Replay(body=cut, headers=SSE)).stream(_request(), "g", CallOptions())
        )


ERRORS = [
    ("gemini/error_400_invalid_argument_vertex.json", 400, ProviderBadRequest),
    ("gemini/error_404_not_found.json", 404, ModelUnavailable),
    ("gemini/error_429_resource_exhausted.json", 429, RateLimited),
    ("gemini/error_429_resource_exhausted_retryinfo.json", 429, RateLimited),
    ("gemini/error_503_unavailable.json", 503, Overloaded),
]


@pytest.mark.parametrize(("fixture", "status", "expected"), ERRORS)
@pytest.mark.parametrize("streaming", [False, True])
async def test_recorded_errors_map_to_typed_errors(recorded, fixture, status, expected, streaming):
    replay = Replay(status=status, body=recorded.bytes(fixture), headers=JSON)
    provider = _provider(replay)
    with pytest.raises(expected) as caught:
        if streaming:
            await collect(provider.stream(_request(), "g", CallOptions()))
        else:
            await provider.complete(_request(), "g", CallOptions())
    assert caught.value.upstream_status == status and KEY not in str(caught.value)


async def test_retry_info_delay_becomes_retry_after(recorded):
    body = recorded.bytes("gemini/error_429_resource_exhausted_retryinfo.json")
    with pytest.raises(RateLimited) as caught:
        await _provider(Replay(status=429, body=body, headers=JSON)).complete(
            _request(), "g", CallOptions()
        )
    assert caught.value.retry_after == pytest.approx(34.4)


async def test_invalid_key_400_labelled_as_event_stream_is_an_auth_error():
    body = {
        "error": {
            "code": 400,
            "message": "API key not valid. Please pass a valid API key.",
            "status": "INVALID_ARGUMENT",
            "details": [
                {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID"}
            ],
        }
    }
    replay = Replay(status=400, body=json.dumps(body).encode(), headers=SSE)
    with pytest.raises(ProviderAuthError):
        await collect(_provider(replay).stream(_request(), "g", CallOptions()))


async def test_token_limit_is_a_context_length_error():
    body = {
        "error": {
            "code": 400,
            "message": "The input token count (1200000) exceeds the maximum number of tokens allowed (1048576).",
            "status": "INVALID_ARGUMENT",
        }
    }
    replay = Replay(status=400, body=json.dumps(body).encode(), headers=JSON)
    with pytest.raises(ContextLengthExceeded):
        await _provider(replay).complete(_request(), "g", CallOptions())


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (httpx.ReadTimeout("slow"), ProviderTimeout),
        (httpx.ConnectError("refused"), ConnectionFailed),
    ],
)
async def test_transport_failures_are_typed(error, expected):
    with pytest.raises(expected):
        await _provider(Replay(error=error)).complete(_request(), "g", CallOptions())
