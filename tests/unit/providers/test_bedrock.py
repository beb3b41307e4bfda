"""The Bedrock Converse adapter against recorded Bedrock traffic (SigV4 over httpx)."""

from __future__ import annotations

import binascii
import json
import struct

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
from orchestra.providers.bedrock import (
    BedrockProvider,
    StreamState,
    UnsupportedContent,
    aiter_frames,
    parse_response,
    to_body,
)
from orchestra.schemas.chat import ChatRequest

from support.replay import Replay, arguments_by_index, assert_chunk_convention, collect, text_of

MODEL = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
QUOTED = b"us.anthropic.claude-sonnet-4-5-20250929-v1%3A0"
EVENTSTREAM = {"content-type": "application/vnd.amazon.eventstream"}
JSON = {"content-type": "application/json"}
KEY_ID = "AKIAIOSFODNN7EXAMPLE"
SECRET = "bedrock/secret/access/key/EXAMPLEKEY0123"
BIN = "bedrock/converse_stream.eventstream.bin"
CORAL = ":http://internal.amazon.com/coral/com.amazon.bedrock/"


@pytest.fixture(autouse=True)
def _credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    monkeypatch.delenv("AWS_SECURITY_TOKEN", raising=False)


def _provider(replay: Replay, **config: object) -> BedrockProvider:
    settings: dict = {"region": "us-east-1", **config}
    return BedrockProvider(
        ProviderConfig(name="bedrock", type="bedrock", **settings), replay.clients()
    )


def _request(**extra: object) -> ChatRequest:
    return ChatRequest.model_validate(
        {"model": "bedrock/x", "messages": [{"role": "user", "content": "hi"}], **extra}
    )


def _call(tool_id: str, name: str, arguments: str) -> dict:
    return {"id": tool_id, "type": "function", "function": {"name": name, "arguments": arguments}}


WEATHER = {
    "type": "function",
    "function": {
        "name": "weather",
        "description": "Current weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}


# --- AWS event-stream frames, built by hand --------------------------------------------


def _frame(headers: dict[str, str], payload: bytes) -> bytes:
    """One AWS event-stream frame (string headers), CRCs included."""
    encoded = b"".join(
        bytes([len(k)]) + k.encode() + b"\x07" + struct.pack(">H", len(v)) + v.encode()
        for k, v in headers.items()
    )
    prelude = struct.pack(">II", 16 + len(encoded) + len(payload), len(encoded))
    message = prelude + struct.pack(">I", binascii.crc32(prelude)) + encoded + payload
    return message + struct.pack(">I", binascii.crc32(message))


def _event(kind: str, payload: dict) -> bytes:
    headers = {":event-type": kind, ":content-type": "application/json", ":message-type": "event"}
    return _frame(headers, json.dumps({**payload, "p": "abcdefg"}).encode())


def _exception(kind: str, message: str) -> bytes:
    headers = {":exception-type": kind, ":content-type": "application/json"}
    return _frame(
        {**headers, ":message-type": "exception"}, json.dumps({"message": message}).encode()
    )


def _boundaries(raw: bytes) -> list[int]:
    """Byte offsets where each recorded frame ends (from each prelude's total length)."""
    ends, at = [], 0
    while at < len(raw):
        at += struct.unpack(">I", raw[at : at + 4])[0]
        ends.append(at)
    return ends


async def _chunks_of(raw: bytes, piece: int | None = None) -> list:
    replay = Replay(body=raw, headers=EVENTSTREAM, piece=piece)
    return await collect(_provider(replay).stream(_request(), MODEL, CallOptions()))


async def _once(items: list[bytes]):
    for item in items:
        yield item


async def test_hand_built_frames_match_the_recorded_encoding(recorded):
    raw = recorded.bytes(BIN)
    frames = [f async for f in aiter_frames(_once([raw]))]
    assert len(frames) == len(_boundaries(raw)) == 9
    assert b"".join(_frame(h, p) for h, p in frames) == raw


# --- request translation ---------------------------------------------------------------


def test_system_and_developer_messages_become_system_blocks():
    body = to_body(
        _request(
            messages=[
                {"role": "system", "content": "Be brief."},
                {"role": "developer", "content": [{"type": "text", "text": "Answer in French."}]},
                {"role": "system", "content": ""},
                {"role": "user", "content": "hi"},
            ]
        )
    )
    assert body["system"] == [{"text": "Be brief."}, {"text": "Answer in French."}]
    assert body["messages"] == [{"role": "user", "content": [{"text": "hi"}]}]
    assert "inferenceConfig" not in body and "toolConfig" not in body


def test_consecutive_same_role_messages_are_merged_to_alternate():
    body = to_body(
        _request(
            messages=[
                {"role": "user", "content": "one"},
                {"role": "user", "content": [{"type": "text", "text": "two"}]},
                {"role": "assistant", "content": "three"},
                {"role": "assistant", "content": "four"},
                {"role": "user", "content": "five"},
            ]
        )
    )
    assert body["messages"] == [
        {"role": "user", "content": [{"text": "one"}, {"text": "two"}]},
        {"role": "assistant", "content": [{"text": "three"}, {"text": "four"}]},
        {"role": "user", "content": [{"text": "five"}]},
    ]


def test_tool_calls_and_results_become_tool_use_and_one_user_turn_of_results():
    body = to_body(
        _request(
            messages=[
                {"role": "user", "content": "Weather in Paris and Rome?"},
                {
                    "role": "assistant",
                    "content": "Checking.",
                    "tool_calls": [
                        _call("tooluse_1", "weather", '{"city":"Paris"}'),
                        _call("tooluse_2", "weather", "not json"),
                    ],
                },
                {"role": "tool", "tool_call_id": "tooluse_1", "content": "18C"},
                {"role": "tool", "tool_call_id": "tooluse_2", "content": "21C"},
                {"role": "user", "content": "Thanks"},
            ],
            tools=[WEATHER],
        )
    )
    assert [m["role"] for m in body["messages"]] == ["user", "assistant", "user"]
    assert body["messages"][1]["content"] == [
        {"text": "Checking."},
        {"toolUse": {"toolUseId": "tooluse_1", "name": "weather", "input": {"city": "Paris"}}},
        {"toolUse": {"toolUseId": "tooluse_2", "name": "weather", "input": {}}},
    ]
    assert body["messages"][2]["content"] == [
        {"toolResult": {"toolUseId": "tooluse_1", "content": [{"text": "18C"}]}},
        {"toolResult": {"toolUseId": "tooluse_2", "content": [{"text": "21C"}]}},
        {"text": "Thanks"},
    ]


def test_a_parsed_tool_call_round_trips_into_the_next_request(recorded):
    raw = recorded.json("bedrock/converse_tool_use.json")
    message = parse_response(raw, "m").choices[0].message
    body = to_body(
        _request(
            messages=[
                {"role": "user", "content": "Weather in Paris?"},
                message.model_dump(),
                {"role": "tool", "tool_call_id": message.tool_calls[0].id, "content": "18C"},
            ],
            tools=[WEATHER],
        )
    )
    original = raw["output"]["message"]["content"][0]["toolUse"]
    sent = body["messages"][1]["content"][0]["toolUse"]
    assert sent == {k: original[k] for k in ("toolUseId", "name", "input")}
    assert body["messages"][2]["content"][0]["toolResult"]["toolUseId"] == original["toolUseId"]


def test_data_url_images_become_image_blocks():
    body = to_body(
        _request(
            messages=[
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "What is this?"},
                        {"type": "image_url", "image_url": {"url": "data:image/jpg;base64,QUJD"}},
                        {"type": "image_url", "image_url": {"url": "data:image/png;base64,REVG"}},
                    ],
                }
            ]
        )
    )
    assert body["messages"][0]["content"] == [
        {"text": "What is this?"},
        {"image": {"format": "jpeg", "source": {"bytes": "QUJD"}}},
        {"image": {"format": "png", "source": {"bytes": "REVG"}}},
    ]


@pytest.mark.parametrize(
    "url", ["https://example.com/cat.png", "data:image/svg+xml;base64,PHN2Zz4="]
)
def test_images_converse_cannot_take_are_refused(url):
    part = {"type": "image_url", "image_url": {"url": url}}
    with pytest.raises(UnsupportedContent):
        to_body(_request(messages=[{"role": "user", "content": [part]}]))


async def test_provider_refuses_remote_images_without_calling_bedrock():
    replay = Replay(body=b"{}", headers=JSON)
    part = {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}
    request = _request(messages=[{"role": "user", "content": [part]}])
    with pytest.raises(ProviderBadRequest, match="data: URLs"):
        await _provider(replay).complete(request, MODEL, CallOptions())
    assert replay.requests == []


def test_inference_config():
    body = to_body(
        _request(max_tokens=64, max_completion_tokens=32, temperature=0.1, top_p=0.9, stop="END")
    )
    assert body["inferenceConfig"] == {
        "maxTokens": 32,
        "temperature": 0.1,
        "topP": 0.9,
        "stopSequences": ["END"],
    }
    assert to_body(_request(max_tokens=64, stop=["a", "b"]))["inferenceConfig"] == {
        "maxTokens": 64,
        "stopSequences": ["a", "b"],
    }


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        ("auto", {"auto": {}}),
        ("required", {"any": {}}),
        ({"type": "function", "function": {"name": "weather"}}, {"tool": {"name": "weather"}}),
        (None, None),
    ],
)
def test_tool_config_and_tool_choice(choice, expected):
    bare = {"type": "function", "function": {"name": "clock"}}
    config = to_body(_request(tools=[WEATHER, bare], tool_choice=choice))["toolConfig"]
    assert config["tools"] == [
        {
            "toolSpec": {
                "name": "weather",
                "description": "Current weather",
                "inputSchema": {"json": WEATHER["function"]["parameters"]},
            }
        },
        {
            "toolSpec": {
                "name": "clock",
                "inputSchema": {"json": {"type": "object", "properties": {}}},
            }
        },
    ]
    assert config.get("toolChoice") == expected


def test_tool_choice_none_drops_tools_unless_the_history_uses_them():
    assert "toolConfig" not in to_body(_request(tools=[WEATHER], tool_choice="none"))
    history = [
        {"role": "user", "content": "Weather?"},
        {"role": "assistant", "tool_calls": [_call("t1", "weather", "{}")]},
        {"role": "tool", "tool_call_id": "t1", "content": "18C"},
    ]
    body = to_body(_request(messages=history, tools=[WEATHER], tool_choice="none"))
    assert body["toolConfig"]["tools"][0]["toolSpec"]["name"] == "weather"
    assert "toolChoice" not in body["toolConfig"]


# --- responses -------------------------------------------------------------------------


def test_parse_converse(recorded):
    response = parse_response(recorded.json("bedrock/converse.json"), "m")
    assert response.text() == "The city of Paris"
    assert response.choices[0].finish_reason == "stop"
    assert response.choices[0].message.tool_calls is None
    assert response.usage is not None
    assert (response.usage.prompt_tokens, response.usage.completion_tokens) == (25, 4)
    assert response.usage.total_tokens == 29


def test_parse_nova_response_with_cache_fields(recorded):
    body = recorded.json("bedrock/converse_text_nova_cache_fields.json")
    response = parse_response(body, "m")
    assert response.text().startswith('Let me count the "r"s')
    assert response.usage is not None
    assert (response.usage.prompt_tokens, response.usage.completion_tokens) == (22, 57)
    body["usage"].update(cacheReadInputTokens=100, cacheWriteInputTokens=5)  # counted once each
    usage = parse_response(body, "m").usage
    assert usage is not None and (usage.prompt_tokens, usage.total_tokens) == (127, 184)


def test_parse_tool_use(recorded):
    response = parse_response(recorded.json("bedrock/converse_tool_use.json"), "m")
    calls = response.choices[0].message.tool_calls or []
    assert response.choices[0].finish_reason == "tool_calls"
    assert response.choices[0].message.content is None
    assert [(c.id, c.function.name) for c in calls] == [
        ("tooluse_8ZVLMmsdearTDSS0unN07z", "get_weather")
    ]
    assert json.loads(calls[0].function.arguments) == {"city": "Paris"}
    assert response.usage is not None and response.usage.prompt_tokens == 560


@pytest.mark.parametrize(
    ("reason", "finish"),
    [
        ("stop_sequence", "stop"),
        ("max_tokens", "length"),
        ("guardrail_intervened", "content_filter"),
        ("content_filtered", "content_filter"),
        ("something_new", "stop"),
    ],
)
def test_stop_reasons(recorded, reason, finish):
    body = {**recorded.json("bedrock/converse.json"), "stopReason": reason}
    assert parse_response(body, "m").choices[0].finish_reason == finish


async def test_unreadable_response_is_malformed():
    replay = Replay(body=b'{"output": {}}', headers=JSON)
    with pytest.raises(MalformedResponse):
        await _provider(replay).complete(_request(), MODEL, CallOptions())


# --- complete(): signing -----------------------------------------------------------------


def _assert_signature_covers_what_was_sent(sent: httpx.Request, token: str | None = None) -> None:
    """Re-derive the SigV4 signature from the bytes, path and headers httpx really sent."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    auth = sent.headers["authorization"]
    signed = auth.split("SignedHeaders=")[1].split(",")[0].split(";")
    headers = {name: sent.headers[name] for name in signed if name != "host"}
    again = AWSRequest(method="POST", url=str(sent.url), data=sent.content, headers=headers)
    again.context["timestamp"] = sent.headers["x-amz-date"]
    signer = SigV4Auth(Credentials(KEY_ID, SECRET, token), "bedrock", "us-east-1")
    canonical = signer.canonical_request(again)
    assert canonical.splitlines()[1] == sent.url.raw_path.decode().replace("%", "%25")
    assert auth.endswith(
        "Signature=" + signer.signature(signer.string_to_sign(again, canonical), again)
    )


async def test_complete_is_sigv4_signed_and_never_sends_the_secret(recorded):
    replay = Replay(body=recorded.bytes("bedrock/converse.json"), headers=JSON)
    response = await _provider(replay).complete(_request(max_tokens=20), MODEL, CallOptions())
    assert response.text() == "The city of Paris" and response.model == MODEL
    sent = replay.requests[0]
    assert sent.method == "POST"
    assert sent.url.host == "bedrock-runtime.us-east-1.amazonaws.com"
    assert sent.url.raw_path == b"/model/" + QUOTED + b"/converse"
    assert sent.headers["authorization"].startswith(f"AWS4-HMAC-SHA256 Credential={KEY_ID}/")
    assert "/us-east-1/bedrock/aws4_request" in sent.headers["authorization"]
    assert sent.headers["x-amz-date"] and "x-amz-security-token" not in sent.headers
    assert sent.headers["content-type"] == "application/json"
    assert json.loads(sent.content) == to_body(_request(max_tokens=20))
    assert SECRET not in str(sent.headers.raw) and SECRET.encode() not in sent.content
    assert SECRET not in str(sent.url)
    _assert_signature_covers_what_was_sent(sent)


async def test_arn_model_ids_are_quoted_like_boto3_and_signed_as_sent(recorded):
    from botocore.utils import percent_encode  # what boto3 does to the {modelId} label

    arn = "arn:aws:bedrock:us-east-1:123456789012:inference-profile/" + MODEL
    replay = Replay(body=recorded.bytes("bedrock/converse.json"), headers=JSON)
    await _provider(replay).complete(_request(), arn, CallOptions())
    sent = replay.requests[0]
    assert sent.url.raw_path == f"/model/{percent_encode(arn)}/converse".encode()
    assert b"%2F" in sent.url.raw_path and b"%3A" in sent.url.raw_path
    _assert_signature_covers_what_was_sent(sent)


async def test_session_token_is_sent_and_signed(recorded, monkeypatch):
    monkeypatch.setenv("AWS_SESSION_TOKEN", "session-token-123")
    replay = Replay(body=recorded.bytes("bedrock/converse.json"), headers=JSON)
    await _provider(replay).complete(_request(), MODEL, CallOptions())
    sent = replay.requests[0]
    assert sent.headers["x-amz-security-token"] == "session-token-123"
    assert "x-amz-security-token" in sent.headers["authorization"]
    _assert_signature_covers_what_was_sent(sent, "session-token-123")


async def test_base_url_override_keeps_the_path_prefix_and_signs_the_port(recorded):
    replay = Replay(body=recorded.bytes("bedrock/converse.json"), headers=JSON)
    provider = _provider(replay, base_url="http://127.0.0.1:8999/bedrock/")
    await provider.complete(_request(), MODEL, CallOptions())
    sent = replay.requests[0]
    assert str(sent.url).startswith("http://127.0.0.1:8999/bedrock/model/")
    assert sent.headers["host"] == "127.0.0.1:8999"
    _assert_signature_covers_what_was_sent(sent)


async def test_credentials_are_resolved_once_and_cached(recorded, monkeypatch):
    import botocore.session

    calls = []
    real = botocore.session.get_session

    def counting():
        calls.append(1)
        return real()

    monkeypatch.setattr(botocore.session, "get_session", counting)
    replay = Replay(body=recorded.bytes("bedrock/converse.json"), headers=JSON)
    provider = _provider(replay)
    assert calls == []  # nothing resolved before the first call
    for _ in range(3):
        await provider.complete(_request(), MODEL, CallOptions())
    assert len(calls) == 1 and len(replay.requests) == 3


async def test_missing_credentials_are_an_auth_error(monkeypatch):
    import botocore.session

    class NoCredentials:
        def get_credentials(self):
            return None

    monkeypatch.setattr(botocore.session, "get_session", NoCredentials)
    replay = Replay(body=b"{}", headers=JSON)
    with pytest.raises(ProviderAuthError):
        await _provider(replay).complete(_request(), MODEL, CallOptions())
    assert replay.requests == []


def test_a_region_or_base_url_is_required():
    with pytest.raises(ValueError, match="region"):
        BedrockProvider(ProviderConfig(name="bedrock", type="bedrock"), Replay().clients())


# --- stream() ------------------------------------------------------------------------------


def _decoded(recorded) -> list[dict]:
    lines = recorded.bytes("bedrock/converse_stream_events_decoded.jsonl").decode().splitlines()
    return [json.loads(line) for line in lines if line.strip()]


@pytest.mark.parametrize("piece", [None, 1, 13, 200])
async def test_stream_replays_the_recorded_event_stream(recorded, piece):
    status, headers = recorded.headers("bedrock/converse_stream.eventstream.headers.json")
    replay = Replay(status=status, body=recorded.bytes(BIN), headers=headers, piece=piece)
    chunks = await collect(_provider(replay).stream(_request(), MODEL, CallOptions()))
    assert_chunk_convention(chunks)
    events = _decoded(recorded)
    expected = "".join(
        e["payload"]["delta"].get("text", "")
        for e in events
        if e["event-type"] == "contentBlockDelta"
    )
    assert text_of(chunks) == expected and json.loads(expected)["city"] == "Paris"
    finishes = [
        c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason
    ]
    assert finishes == ["stop"]
    usage = events[-1]["payload"]["usage"]
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert (chunks[-1].usage.prompt_tokens, chunks[-1].usage.completion_tokens) == (
        usage["inputTokens"],
        usage["outputTokens"],
    )
    assert len({c.id for c in chunks}) == 1 and chunks[0].model == MODEL
    sent = replay.requests[0]
    assert sent.url.raw_path == b"/model/" + QUOTED + b"/converse-stream"
    _assert_signature_covers_what_was_sent(sent)


async def test_stream_with_text_and_tool_use_blocks():
    raw = b"".join(
        [
            _event("messageStart", {"role": "assistant"}),
            _event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "Checking."}}),
            _event("contentBlockStop", {"contentBlockIndex": 0}),
            _event(
                "contentBlockStart",
                {
                    "contentBlockIndex": 1,
                    "start": {"toolUse": {"toolUseId": "t1", "name": "weather"}},
                },
            ),
            _event(
                "contentBlockDelta",
                {"contentBlockIndex": 1, "delta": {"toolUse": {"input": '{"city":'}}},
            ),
            _event(
                "contentBlockDelta",
                {"contentBlockIndex": 1, "delta": {"toolUse": {"input": '"Paris"}'}}},
            ),
            _event("contentBlockStop", {"contentBlockIndex": 1}),
            _event(
                "contentBlockStart",
                {
                    "contentBlockIndex": 2,
                    "start": {"toolUse": {"toolUseId": "t2", "name": "clock"}},
                },
            ),
            _event("contentBlockStop", {"contentBlockIndex": 2}),
            _event("messageStop", {"stopReason": "tool_use"}),
            _event("metadata", {"usage": {"inputTokens": 10, "outputTokens": 5}, "metrics": {}}),
        ]
    )
    chunks = await _chunks_of(raw, piece=9)
    assert_chunk_convention(chunks)
    assert text_of(chunks) == "Checking."
    assert arguments_by_index(chunks) == {
        0: {"id": "t1", "name": "weather", "arguments": '{"city":"Paris"}'},
        1: {"id": "t2", "name": "clock", "arguments": "{}"},
    }
    assert chunks[-2].choices[0].finish_reason == "tool_calls"
    assert chunks[-1].usage is not None
    assert (chunks[-1].usage.prompt_tokens, chunks[-1].usage.completion_tokens) == (10, 5)


def test_stream_state_puts_the_role_first_even_without_message_start():
    state = StreamState("m")
    first = state.feed("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "Hi"}})
    assert [c.choices[0].delta.role for c in first] == ["assistant", None]
    assert state.feed("contentBlockDelta", {"delta": {"reasoningContent": {"text": "hmm"}}}) == []


@pytest.mark.parametrize("cut", ["mid_frame", "before_message_stop", "after_message_start"])
async def test_truncated_stream_raises(recorded, cut):
    raw = recorded.bytes(BIN)
    ends = _boundaries(raw)
    at = {
        "mid_frame": ends[3] + 20,
        "before_message_stop": ends[-3],
        "after_message_start": ends[0],
    }
    with pytest.raises(MalformedResponse):
        await _chunks_of(raw[: at[cut]])


async def test_stream_cut_after_message_stop_estimates_usage(recorded):
    raw = recorded.bytes(BIN)
    chunks = await _chunks_of(raw[: _boundaries(raw)[-2]])  # no metadata frame
    assert_chunk_convention(chunks)
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0


async def test_corrupt_frame_raises(recorded):
    raw = bytearray(recorded.bytes(BIN))
    raw[200] ^= 0xFF  # a payload byte of the second frame: its message CRC no longer matches
    with pytest.raises(MalformedResponse):
        await _chunks_of(bytes(raw), piece=13)


async def test_non_json_event_payload_is_malformed():
    headers = {":event-type": "messageStart", ":message-type": "event"}
    with pytest.raises(MalformedResponse):
        await _chunks_of(_frame(headers, b"not json"))


@pytest.mark.parametrize(
    ("kind", "message", "expected"),
    [
        ("throttlingException", "Too many requests, please wait", RateLimited),
        ("serviceUnavailableException", "Bedrock is unable to process your request.", Overloaded),
        ("modelStreamErrorException", "Model stream error", ServerError),
        ("internalServerException", "internal", ServerError),
        ("modelTimeoutException", "timed out", ProviderTimeout),
        ("validationException", "Input is too long for requested model.", ContextLengthExceeded),
        ("validationException", "temperature: must be <= 1", ProviderBadRequest),
    ],
)
async def test_exception_frame_in_stream_is_typed(kind, message, expected):
    raw = (
        _event("messageStart", {"role": "assistant"})
        + _event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "Hel"}})
        + _exception(kind, message)
    )
    with pytest.raises(expected) as caught:
        await _chunks_of(raw, piece=7)
    assert caught.value.provider == "bedrock" and caught.value.model == MODEL


async def test_error_frame_in_stream_is_typed():
    headers = {":message-type": "error", ":error-code": "InternalFailure", ":error-message": "boom"}
    with pytest.raises(ServerError, match="boom"):
        await _chunks_of(_event("messageStart", {"role": "assistant"}) + _frame(headers, b""))


# --- errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize("header", [True, False])  # recorders strip x- headers
@pytest.mark.parametrize("streaming", [False, True])
async def test_recorded_invalid_model_is_model_unavailable(recorded, header, streaming):
    headers = {**JSON, "x-amzn-ErrorType": "ValidationException" + CORAL} if header else JSON
    body = recorded.bytes("bedrock/error_400_invalid_model.json")
    assert b"model identifier is invalid" in body
    provider = _provider(Replay(status=400, body=body, headers=headers))
    with pytest.raises(ModelUnavailable, match="model identifier is invalid") as caught:
        if streaming:
            await collect(
                provider.stream(_request(), "us.does-not-exist-model-v1:0", CallOptions())
            )
        else:
            await provider.complete(_request(), "us.does-not-exist-model-v1:0", CallOptions())
    assert caught.value.upstream_status == 404 and caught.value.fallback


ERROR_CASES = [
    (
        "ThrottlingException",
        429,
        "Too many requests, please wait before trying again.",
        RateLimited,
    ),
    ("ServiceUnavailableException", 503, "Bedrock is unable to process your request.", Overloaded),
    ("ModelNotReadyException", 429, "Model is not ready", Overloaded),
    ("ModelTimeoutException", 408, "Model has timed out", ProviderTimeout),
    ("InternalServerException", 500, "internal", ServerError),
    ("ModelErrorException", 424, "The model returned an error", ServerError),
    ("AccessDeniedException", 403, "You don't have access to the model", ProviderAuthError),
    ("UnrecognizedClientException", 403, "The security token is invalid.", ProviderAuthError),
    ("ExpiredTokenException", 403, "The security token has expired.", ProviderAuthError),
    ("ResourceNotFoundException", 404, "Model not found", ModelUnavailable),
    ("ValidationException", 400, "Input is too long for requested model.", ContextLengthExceeded),
    ("ValidationException", 400, "Too many input tokens. Max: 8192", ContextLengthExceeded),
    (
        "ValidationException",
        400,
        "The model returned the following errors: prompt is too long: 210000 tokens > 200000",
        ContextLengthExceeded,
    ),
    (
        "ValidationException",
        400,
        "This model's maximum context length is 8192 tokens.",
        ContextLengthExceeded,
    ),
    (
        "ValidationException",
        400,
        "Invocation of model ID x with on-demand throughput isn't supported.",
        ModelUnavailable,
    ),
    ("ValidationException", 400, "temperature: must be <= 1", ProviderBadRequest),
]


@pytest.mark.parametrize(("kind", "status", "message", "expected"), ERROR_CASES)
@pytest.mark.parametrize("streaming", [False, True])
async def test_error_types_from_the_header(kind, status, message, expected, streaming):
    replay = Replay(
        status=status,
        body=json.dumps({"message": message}).encode(),
        headers={**JSON, "x-amzn-ErrorType": kind + CORAL},
    )
    provider = _provider(replay)
    with pytest.raises(expected) as caught:
        if streaming:
            await collect(provider.stream(_request(), MODEL, CallOptions()))
        else:
            await provider.complete(_request(), MODEL, CallOptions())
    error = caught.value
    assert (error.provider, error.model) == ("bedrock", MODEL)
    assert SECRET not in str(error) and KEY_ID not in str(error)
    if expected is ProviderBadRequest:
        assert error.code == "ValidationException" and message in error.message


async def test_throttling_honours_retry_after():
    replay = Replay(
        status=429,
        body=b'{"message": "slow down"}',
        headers={**JSON, "x-amzn-ErrorType": "ThrottlingException" + CORAL, "retry-after": "3"},
    )
    with pytest.raises(RateLimited) as caught:
        await _provider(replay).complete(_request(), MODEL, CallOptions())
    assert caught.value.retry_after == 3.0


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (httpx.ReadTimeout("slow"), ProviderTimeout),
        (httpx.ConnectError("refused"), ConnectionFailed),
    ],
)
@pytest.mark.parametrize("streaming", [False, True])
async def test_transport_errors_are_typed(error, expected, streaming):
    provider = _provider(Replay(error=error))
    with pytest.raises(expected):
        if streaming:
            await collect(provider.stream(_request(), MODEL, CallOptions()))
        else:
            await provider.complete(_request(), MODEL, CallOptions())
