"""Anthropic Messages streams out: chunk streams as Anthropic's SSE event sequence."""

from __future__ import annotations

import json
from typing import Any

from orchestra.errors import Overloaded
from orchestra.formats.anthropic_stream import MessageStream, error_event
from orchestra.providers.anthropic import AnthropicProvider
from orchestra.providers.base import CallOptions, ProviderConfig
from orchestra.providers.chunks import ChunkFactory
from orchestra.schemas.chat import ChatChunk, ChatRequest, ChunkChoice, Delta, Usage
from orchestra.transport.sse import SSEDecoder

from support.replay import Replay, collect

SSE = {"content-type": "text/event-stream"}


def _events(raw: bytes) -> list[tuple[str, dict[str, Any]]]:
    decoder = SSEDecoder()
    events = list(decoder.feed(raw)) + list(decoder.flush())
    return [(e.event or "", json.loads(e.data)) for e in events]


def _render(chunks: list[ChatChunk], *, keep_thinking: bool = True) -> list[tuple[str, Any]]:
    stream = MessageStream("anthropic/claude-x", 12, keep_thinking=keep_thinking)
    out = b"".join(piece for chunk in chunks for piece in stream.feed(chunk))
    return _events(out + b"".join(stream.finish()))


def _shape(events: list[tuple[str, dict[str, Any]]]) -> list[tuple[str, Any]]:
    """Event types with their block index, runs of deltas to one block as one, no pings."""
    shape: list[tuple[str, Any]] = []
    for kind, data in events:
        step = (kind, data.get("index"))
        if kind == "ping" or (kind == "content_block_delta" and shape and shape[-1] == step):
            continue
        shape.append(step)
    return shape


def _chunk(**delta: Any) -> ChatChunk:
    return ChatChunk(choices=[ChunkChoice(delta=Delta(**delta))])


async def test_a_recorded_anthropic_stream_comes_back_out_as_it_went_in(recorded):
    # Given Anthropic's recorded text-then-tool_use stream, read by the outbound adapter
    raw = recorded.bytes("anthropic/messages_stream_text_then_tool_use.sse")
    provider = AnthropicProvider(
        ProviderConfig(name="anthropic", type="anthropic", api_key="k"),
        Replay(body=raw, headers=SSE, piece=40).clients(),
    )
    request = ChatRequest.model_validate(
        {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    )
    chunks = await collect(provider.stream(request, "c", CallOptions()))
    # When the chunks are rendered back as Anthropic events
    ours = _render(chunks)
    theirs = _events(raw)
    # Then the sequence of event types and block indices is the recorded one
    assert _shape(ours) == _shape(theirs)
    assert [k for k, _ in ours[:2]] == ["message_start", "ping"]
    # and the text, the tool call and its arguments, the stop reason and usage agree
    text = "".join(d["delta"].get("text", "") for k, d in ours if k == "content_block_delta")
    assert text == "".join(
        d["delta"].get("text", "") for k, d in theirs if k == "content_block_delta"
    )
    tool = next(
        d["content_block"] for k, d in ours if d.get("index") == 1 and k == "content_block_start"
    )
    assert (
        tool["id"] == "toolu_01Lfr3kUnHMZApePPRWMv1uS" and tool["name"] == "get_current_temperature"
    )
    arguments = "".join(
        d["delta"].get("partial_json", "") for k, d in ours if k == "content_block_delta"
    )
    assert json.loads(arguments) == {"city": "San Francisco"}
    final = next(d for k, d in ours if k == "message_delta")
    assert final["delta"]["stop_reason"] == "tool_use"
    assert final["usage"]["output_tokens"] == 85 and final["usage"]["input_tokens"] == 351
    assert ours[0][1]["message"]["id"] == "msg_01JCJXSfyzkcecJUydp157cS"


def test_signed_and_redacted_thinking_become_their_own_blocks():
    factory = ChunkFactory("m")
    chunks = [
        factory.role(),
        _chunk(reasoning_content="Let me "),
        _chunk(reasoning_content="think."),
        _chunk(reasoning_signature="sig-1"),
        _chunk(redacted_thinking="opaque=="),
        _chunk(reasoning_content="More."),
        _chunk(reasoning_signature="sig-2"),
        _chunk(content="4"),
        factory.finish("stop"),
        factory.usage(30, 9),
    ]
    events = _render(chunks)
    starts = [d["content_block"]["type"] for k, d in events if k == "content_block_start"]
    assert starts == ["thinking", "redacted_thinking", "thinking", "text"]
    assert _shape(events) == [
        ("message_start", None),
        *[step for i in range(4) for step in _block(i, delta=i != 1)],
        ("message_delta", None),
        ("message_stop", None),
    ]
    deltas = [d["delta"] for k, d in events if k == "content_block_delta" and d["index"] == 0]
    assert deltas[-1] == {"type": "signature_delta", "signature": "sig-1"}
    assert "".join(d.get("thinking", "") for d in deltas) == "Let me think."
    final = events[-2][1]
    assert final["delta"] == {"stop_reason": "end_turn", "stop_sequence": None}
    assert final["usage"]["output_tokens"] == 9


def _block(index: int, *, delta: bool) -> list[tuple[str, int]]:
    steps = [("content_block_start", index)]
    if delta:
        steps.append(("content_block_delta", index))
    return [*steps, ("content_block_stop", index)]


def test_reasoning_is_left_out_when_the_model_cannot_sign_it():
    factory = ChunkFactory("m")
    chunks = [factory.role(), _chunk(reasoning_content="hmm"), _chunk(content="hi")]
    events = _render([*chunks, factory.finish("length")], keep_thinking=False)
    starts = [d["content_block"]["type"] for k, d in events if k == "content_block_start"]
    assert starts == ["text"]
    assert events[-2][1]["delta"]["stop_reason"] == "max_tokens"


def test_parallel_tool_calls_get_one_block_each():
    factory = ChunkFactory("m")
    chunks = [
        factory.role(),
        factory.tool_call(0, call_id="call_a", name="one", arguments='{"x":'),
        factory.tool_call(0, arguments="1}"),
        factory.tool_call(1, call_id="call_b", name="two", arguments="{}"),
        factory.finish("tool_calls"),
        ChatChunk(usage=Usage.of(100, 20, cached=60, cache_creation=10)),
    ]
    events = _render(chunks)
    blocks = [d["content_block"] for k, d in events if k == "content_block_start"]
    assert [(b["type"], b["id"], b["name"]) for b in blocks] == [
        ("tool_use", "call_a", "one"),
        ("tool_use", "call_b", "two"),
    ]
    first = [
        d["delta"]["partial_json"]
        for k, d in events
        if k == "content_block_delta" and d["index"] == 0
    ]
    assert "".join(first) == '{"x":1}'
    final = events[-2][1]
    assert final["delta"]["stop_reason"] == "tool_use"
    assert final["usage"] == {
        "input_tokens": 30,
        "output_tokens": 20,
        "cache_read_input_tokens": 60,
        "cache_creation_input_tokens": 10,
    }


def test_a_failed_stream_ends_with_an_anthropic_error_event_without_keys():
    error = Overloaded("upstream sk-ant-secret overloaded", provider="a", model="m")
    ((kind, data),) = _events(error_event(error, lambda text: text.replace("sk-ant-secret", "***")))
    assert kind == "error"
    assert data == {
        "type": "error",
        "error": {"type": "overloaded_error", "message": "upstream *** overloaded"},
    }
