"""The Bedrock Converse adapter against recorded Bedrock traffic (SigV4 over httpx)."""

from __future__ import annotations

import binascii
import json
import struct

import httpx
import pytest

from orchestra.errors import (
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
from orchestra.providers.bedrock import BedrockProvider, parse_response, to_body
from orchestra.schemas.chat import ChatRequest

from support.replay import Replay, arguments_by_index, assert_chunk_convention, collect, text_of

MODEL = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
EVENTSTREAM = {"content-type": "application/vnd.amazon.eventstream"}
JSON = {"content-type": "application/json"}
SECRET = "bedrock/secret/access/key/EXAMPLEKEY0123"


@pytest.fixture(autouse=True)
def _credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    monkeypatch.delenv("AWS_SECURITY_TOKEN", raising=False)


def _provider(replay: Replay) -> BedrockProvider:
    config = ProviderConfig(name="bedrock", type="bedrock", region="us-east-1")
    return BedrockProvider(config, replay.clients())


def _request(**extra: object) -> ChatRequest:
    return ChatRequest.model_validate(
        {"model": "bedrock/x", "messages": [{"role": "user", "content": "hi"}], **extra}
    )


def _frame(headers: dict[str, str], payload: bytes) -> bytes:
    """One AWS event-stream frame (string headers), CRCs included."""
    encoded = b"".join(
        bytes([len(k)]) + k.encode() + b"\x07" + struct.pack(">H", len(v)) + v.encode()
        for k, v in headers.items()
    )
    prelude = struct.pack(">II", 16 + len(encoded) + len(payload), len(encoded))
    message = prelude + struct.pack(">I", binascii.crc32(prelude)) + encoded + payload
    return message + struct.pack(">I", binascii.crc32(message))


def test_translation_system_tools_images_and_alternation():
    request = _request(
        messages=[
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Weather?"},
            {
                "role": "user",
                "content": [
                    {"type": "image_url", "image_url": {"url": "data:image/jpg;base64,QUJD"}}
                ],
            },
            {
                "role": "assistant",
                "tool_calls": [
                    {
                        "id": "tooluse_1",
                        "type": "function",
                        "function": {"name": "weather", "arguments": '{"city":"Paris"}'},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "tooluse_1", "content": "18C"},
        ],
        tools=[
            {"type": "function", "function": {"name": "weather", "parameters": {"type": "object"}}}
        ],
        tool_choice="required",
        max_tokens=64,
        stop="END",
        temperature=0.1,
    )
    body = to_body(request)
    assert body["system"] == [{"text": "Be brief."}]
    assert [m["role"] for m in body["messages"]] == ["user", "assistant", "user"]
    assert body["messages"][0]["content"][1] == {
        "image": {"format": "jpeg", "source": {"bytes": "QUJD"}}
    }
    assert body["messages"][1]["content"][0]["toolUse"] == {
        "toolUseId": "tooluse_1",
        "name": "weather",
        "input": {"city": "Paris"},
    }
    assert body["messages"][2]["content"][0]["toolResult"]["toolUseId"] == "tooluse_1"
    assert body["inferenceConfig"] == {
        "maxTokens": 64,
        "temperature": 0.1,
        "stopSequences": ["END"],
    }
    assert body["toolConfig"]["toolChoice"] == {"any": {}}
    assert body["toolConfig"]["tools"][0]["toolSpec"]["inputSchema"] == {"json": {"type": "object"}}


@pytest.mark.parametrize(
    "fixture", ["bedrock/converse.json", "bedrock/converse_text_nova_cache_fields.json"]
)
def test_parse_text_responses(recorded, fixture):
    body = recorded.json(fixture)
    response = parse_response(body, "m")
    assert response.text() and response.choices[0].finish_reason in ("stop", "length")
    assert (
        response.usage is not None
        and response.usage.completion_tokens == body["usage"]["outputTokens"]
    )


def test_parse_tool_use(recorded):
    response = parse_response(recorded.json("bedrock/converse_tool_use.json"), "m")
    calls = response.choices[0].message.tool_calls or []
    assert response.choices[0].finish_reason == "tool_calls"
    assert calls[0].id == "tooluse_8ZVLMmsdearTDSS0unN07z"
    assert json.loads(calls[0].function.arguments) == {"city": "Paris"}


async def test_complete_is_sigv4_signed_and_never_sends_the_secret(recorded):
    replay = Replay(body=recorded.bytes("bedrock/converse.json"), headers=JSON)
    await _provider(replay).complete(_request(), MODEL, CallOptions())
    sent = replay.requests[0]
    assert sent.url.host == "bedrock-runtime.us-east-1.amazonaws.com"
    assert sent.url.raw_path == b"/model/us.anthropic.claude-sonnet-4-5-20250929-v1%3A0/converse"
    assert sent.headers["authorization"].startswith(
        "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/"
    )
    assert "/us-east-1/bedrock/aws4_request" in sent.headers["authorization"]
    assert sent.headers["x-amz-date"]
    assert SECRET not in str(sent.headers) and SECRET.encode() not in sent.content


def _decoded_text(recorded) -> str:
    lines = recorded.bytes("bedrock/converse_stream_events_decoded.jsonl").decode().splitlines()
    events = [json.loads(line) for line in lines if line.strip()]
    return "".join(
        e["payload"]["delta"].get("text", "")
        for e in events
        if e["event-type"] == "contentBlockDelta"
    )


@pytest.mark.parametrize("piece", [None, 13, 200])
async def test_stream_replays_the_recorded_event_stream(recorded, piece):
    raw = recorded.bytes("bedrock/converse_stream.eventstream.bin")
    replay = Replay(body=raw, headers=EVENTSTREAM, piece=piece)
    chunks = await collect(_provider(replay).stream(_request(), MODEL, CallOptions()))
    assert_chunk_convention(chunks)
    assert text_of(chunks) == _decoded_text(recorded)
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0
    assert replay.requests[0].url.raw_path.endswith(b"/converse-stream")


async def test_stream_with_tool_use_frames():
    def event(kind: str, payload: dict) -> bytes:
        return _frame(
            {":event-type": kind, ":message-type": "event", ":content-type": "application/json"},
            json.dumps({**payload, "p": "abc"}).encode(),
        )

    raw = b"".join(
        [
            event("messageStart", {"role": "assistant"}),
            event(
                "contentBlockStart",
                {
                    "contentBlockIndex": 0,
                    "start": {"toolUse": {"toolUseId": "t1", "name": "weather"}},
                },
            ),
            event(
                "contentBlockDelta",
                {"contentBlockIndex": 0, "delta": {"toolUse": {"input": '{"city":'}}},
            ),
            event(
                "contentBlockDelta",
                {"contentBlockIndex": 0, "delta": {"toolUse": {"input": '"Paris"}'}}},
            ),
            event("contentBlockStop", {"contentBlockIndex": 0}),
            event("messageStop", {"stopReason": "tool_use"}),
            event(
                "metadata",
                {
                    "usage": {"inputTokens": 10, "outputTokens": 5, "totalTokens": 15},
                    "metrics": {"latencyMs": 1},
                },
            ),
        ]
    )
    chunks = await collect(
        _provider(Replay(body=raw, headers=EVENTSTREAM, piece=9)).stream(
            _request(), MODEL, CallOptions()
        )
    )
    assert_chunk_convention(chunks)
    assert arguments_by_index(chunks) == {
        0: {"id": "t1", "name": "weather", "arguments": '{"city":"Paris"}'}
    }
    assert (chunks[-1].usage.prompt_tokens, chunks[-1].usage.completion_tokens) == (10, 5)


async def test_truncated_stream_raises(recorded):
    raw = recorded.bytes("bedrock/converse_stream.eventstream.bin")
    with pytest.raises(MalformedResponse):
        await collect(
            _provider(Replay(body=raw[: len(raw) // 2], headers=EVENTSTREAM)).stream(
                _request(), MODEL, CallOptions()
            )
        )


async def test_corrupt_frame_raises(recorded):
    raw = bytearray(recorded.bytes("bedrock/converse_stream.eventstream.bin"))
    raw[30] ^= 0xFF  # flip a payload byte: the message CRC no longer matches
    with pytest.raises(MalformedResponse):
        await collect(
            _provider(Replay(body=bytes(raw), headers=EVENTSTREAM)).stream(
                _request(), MODEL, CallOptions()
            )
        )


async def test_exception_frame_in_stream_is_typed():
    raw = _frame(
        {":event-type": "messageStart", ":message-type": "event"}, b'{"role":"assistant"}'
    ) + _frame(
        {":message-type": "exception", ":exception-type": "throttlingException"},
        b'{"message":"Too many requests"}',
    )
    with pytest.raises(RateLimited):
        await collect(
            _provider(Replay(body=raw, headers=EVENTSTREAM)).stream(
                _request(), MODEL, CallOptions()
            )
        )


async def test_recorded_invalid_model_is_model_unavailable(recorded):
    replay = Replay(
        status=400,
        body=recorded.bytes("bedrock/error_400_invalid_model.json"),
        headers={
            **JSON,
            "x-amzn-ErrorType": "ValidationException:http://internal.amazon.com/coral/com.amazon.bedrock/",
        },
    )
    with pytest.raises(ModelUnavailable):
        await _provider(replay).complete(_request(), "us.does-not-exist-model-v1:0", CallOptions())


@pytest.mark.parametrize(
    ("kind", "status", "message", "expected"),
    [
        (
            "ThrottlingException",
            429,
            "Too many requests, please wait before trying again.",
            RateLimited,
        ),
        (
            "ServiceUnavailableException",
            503,
            "Bedrock is unable to process your request.",
            Overloaded,
        ),
        ("ModelNotReadyException", 429, "Model is not ready", Overloaded),
        ("ModelTimeoutException", 408, "Model has timed out", ProviderTimeout),
        ("InternalServerException", 500, "internal", ServerError),
        ("AccessDeniedException", 403, "You don't have access to the model", ProviderAuthError),
        ("ResourceNotFoundException", 404, "Model not found", ModelUnavailable),
        (
            "ValidationException",
            400,
            "Input is too long for requested model.",
            ContextLengthExceeded,
        ),
        ("ValidationException", 400, "temperature: must be <= 1", ProviderBadRequest),
    ],
)
@pytest.mark.parametrize("streaming", [False, True])
async def test_error_types_from_the_header(kind, status, message, expected, streaming):
    replay = Replay(
        status=status,
        body=json.dumps({"message": message}).encode(),
        headers={
            **JSON,
            "x-amzn-ErrorType": f"{kind}:http://internal.amazon.com/coral/com.amazon.bedrock/",
        },
    )
    provider = _provider(replay)
    with pytest.raises(expected):
        if streaming:
            await collect(provider.stream(_request(), MODEL, CallOptions()))
        else:
            await provider.complete(_request(), MODEL, CallOptions())


async def test_transport_timeout_is_typed():
    with pytest.raises(ProviderTimeout):
        await _provider(Replay(error=httpx.ReadTimeout("slow"))).complete(
            _request(), MODEL, CallOptions()
        )
