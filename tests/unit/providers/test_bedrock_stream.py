"""ConverseStream: recorded and hand-built AWS event-stream frames through the adapter."""

from __future__ import annotations

import json

import pytest

from orchestra.errors import (
    ContextLengthExceeded,
    MalformedResponse,
    Overloaded,
    ProviderBadRequest,
    ProviderTimeout,
    RateLimited,
    ServerError,
)
from orchestra.providers.base import CallOptions
from orchestra.providers.bedrock_stream import StreamState, aiter_frames

from support.bedrock import (
    BIN,
    MODEL,
    QUOTED,
    assert_signature_covers_what_was_sent,
    bedrock_provider,
    chat_request,
    event_frame,
    exception_frame,
    frame,
    frame_ends,
    once,
    stream_chunks,
)
from support.replay import Replay, arguments_by_index, assert_chunk_convention, collect, text_of

pytestmark = pytest.mark.usefixtures("bedrock_credentials")


async def test_hand_built_frames_match_the_recorded_encoding(recorded):
    raw = recorded.bytes(BIN)
    frames = [f async for f in aiter_frames(once([raw]))]
    assert len(frames) == len(frame_ends(raw)) == 9
    assert b"".join(frame(h, p) for h, p in frames) == raw


def _decoded(recorded) -> list[dict]:
    lines = recorded.bytes("bedrock/converse_stream_events_decoded.jsonl").decode().splitlines()
    return [json.loads(line) for line in lines if line.strip()]


@pytest.mark.parametrize("piece", [None, 1, 13, 200])
async def test_stream_replays_the_recorded_event_stream(recorded, piece):
    status, headers = recorded.headers("bedrock/converse_stream.eventstream.headers.json")
    replay = Replay(status=status, body=recorded.bytes(BIN), headers=headers, piece=piece)
    chunks = await collect(bedrock_provider(replay).stream(chat_request(), MODEL, CallOptions()))
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
    assert_signature_covers_what_was_sent(sent)


async def test_stream_with_text_and_tool_use_blocks():
    raw = b"".join(
        [
            event_frame("messageStart", {"role": "assistant"}),
            event_frame(
                "contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "Checking."}}
            ),
            event_frame("contentBlockStop", {"contentBlockIndex": 0}),
            event_frame(
                "contentBlockStart",
                {
                    "contentBlockIndex": 1,
                    "start": {"toolUse": {"toolUseId": "t1", "name": "weather"}},
                },
            ),
            event_frame(
                "contentBlockDelta",
                {"contentBlockIndex": 1, "delta": {"toolUse": {"input": '{"city":'}}},
            ),
            event_frame(
                "contentBlockDelta",
                {"contentBlockIndex": 1, "delta": {"toolUse": {"input": '"Paris"}'}}},
            ),
            event_frame("contentBlockStop", {"contentBlockIndex": 1}),
            event_frame(
                "contentBlockStart",
                {
                    "contentBlockIndex": 2,
                    "start": {"toolUse": {"toolUseId": "t2", "name": "clock"}},
                },
            ),
            event_frame("contentBlockStop", {"contentBlockIndex": 2}),
            event_frame("messageStop", {"stopReason": "tool_use"}),
            event_frame(
                "metadata", {"usage": {"inputTokens": 10, "outputTokens": 5}, "metrics": {}}
            ),
        ]
    )
    chunks = await stream_chunks(raw, piece=9)
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
    (reasoning,) = state.feed("contentBlockDelta", {"delta": {"reasoningContent": {"text": "hm"}}})
    assert reasoning.choices[0].delta.reasoning_content == "hm"


@pytest.mark.parametrize("cut", ["mid_frame", "before_message_stop", "after_message_start"])
async def test_truncated_stream_raises(recorded, cut):
    raw = recorded.bytes(BIN)
    ends = frame_ends(raw)
    at = {
        "mid_frame": ends[3] + 20,
        "before_message_stop": ends[-3],
        "after_message_start": ends[0],
    }
    with pytest.raises(MalformedResponse):
        await stream_chunks(raw[: at[cut]])


async def test_stream_cut_after_message_stop_estimates_usage(recorded):
    raw = recorded.bytes(BIN)
    chunks = await stream_chunks(raw[: frame_ends(raw)[-2]])  # no metadata frame
    assert_chunk_convention(chunks)
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0


async def test_corrupt_frame_raises(recorded):
    raw = bytearray(recorded.bytes(BIN))
    raw[200] ^= 0xFF  # a payload byte of the second frame: its message CRC no longer matches
    with pytest.raises(MalformedResponse):
        await stream_chunks(bytes(raw), piece=13)


async def test_non_json_event_payload_is_malformed():
    headers = {":event-type": "messageStart", ":message-type": "event"}
    with pytest.raises(MalformedResponse):
        await stream_chunks(frame(headers, b"not json"))


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
        event_frame("messageStart", {"role": "assistant"})
        + event_frame("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "Hel"}})
        + exception_frame(kind, message)
    )
    with pytest.raises(expected) as caught:
        await stream_chunks(raw, piece=7)
    assert caught.value.provider == "bedrock" and caught.value.model == MODEL


async def test_error_frame_in_stream_is_typed():
    headers = {":message-type": "error", ":error-code": "InternalFailure", ":error-message": "boom"}
    with pytest.raises(ServerError, match="boom"):
        await stream_chunks(
            event_frame("messageStart", {"role": "assistant"}) + frame(headers, b"")
        )
