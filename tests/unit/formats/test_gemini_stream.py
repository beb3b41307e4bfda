"""Chat chunks out as Gemini stream responses: text as it comes, whole function calls, the
finish and usage last, failures in Google's shape."""

from __future__ import annotations

import json

import pytest

from orchestra.errors import RateLimited, StreamInterrupted
from orchestra.formats.gemini_stream import GeminiStream, sse_event, stream_error
from orchestra.providers.base import CallOptions, ProviderConfig
from orchestra.providers.chunks import ChunkFactory
from orchestra.providers.gemini import GeminiProvider
from orchestra.schemas.chat import ChatChunk, ChatRequest, ChunkChoice, Delta

from support.replay import Replay, collect

SSE = {"content-type": "text/event-stream"}


def _render(chunks: list[ChatChunk], thoughts: bool = False) -> list[dict]:
    stream = GeminiStream("google/gemini-2.5-flash", thoughts=thoughts)
    out = [body for chunk in chunks for body in stream.feed(chunk)]
    return out + stream.finish()


def _parts(bodies: list[dict]) -> list[dict]:
    return [p for b in bodies for p in b["candidates"][0]["content"]["parts"]]


async def test_a_recorded_gemini_stream_comes_back_as_gemini_events(recorded):
    # Given Gemini's recorded stream read by the outbound adapter
    raw = recorded.bytes("gemini/stream_generate_content_alt_sse.sse")
    provider = GeminiProvider(
        ProviderConfig(name="gemini", type="gemini", api_key="k"),
        Replay(body=raw, headers=SSE, piece=50).clients(),
    )
    request = ChatRequest.model_validate(
        {"model": "g", "messages": [{"role": "user", "content": "count"}]}
    )
    chunks = await collect(provider.stream(request, "gemini-2.5-flash", CallOptions()))
    # When the chunks are rendered for a Gemini client
    bodies = _render(chunks)
    # Then the text is the recorded text, and only the last event finishes with usage
    expected = "".join(
        json.loads(line[6:])["candidates"][0]["content"]["parts"][0]["text"]
        for line in raw.decode().splitlines()
        if line.startswith("data: ")
    )
    assert "".join(p.get("text", "") for p in _parts(bodies)) == expected
    assert all("finishReason" not in b["candidates"][0] for b in bodies[:-1])
    last = bodies[-1]
    assert last["candidates"][0]["finishReason"] == "STOP"
    usage = last["usageMetadata"]
    assert usage["promptTokenCount"] == 18 and usage["totalTokenCount"] == 133
    assert {b["responseId"] for b in bodies} == {chunks[0].id}
    assert {b["modelVersion"] for b in bodies} == {"google/gemini-2.5-flash"}


def test_tool_call_arguments_are_sent_whole_in_the_last_event():
    # Given an OpenAI-style stream with one call whose arguments come in three pieces
    factory = ChunkFactory("m", "chatcmpl-x")
    chunks = [
        factory.role(),
        factory.text("Let me check."),
        factory.tool_call(0, call_id="call_1", name="weather", arguments='{"ci'),
        factory.tool_call(0, arguments='ty":"Par'),
        factory.tool_call(0, arguments='is"}'),
        factory.tool_call(1, call_id="call_2", name="time", arguments=""),
        factory.finish("tool_calls"),
        factory.usage(12, 8),
    ]
    # When it is rendered
    bodies = _render(chunks)
    # Then the text streams first and both calls arrive complete, with finish and usage
    assert _parts(bodies[:1]) == [{"text": "Let me check."}]
    assert len(bodies) == 2
    assert bodies[-1]["candidates"][0]["content"]["parts"] == [
        {"functionCall": {"name": "weather", "args": {"city": "Paris"}, "id": "call_1"}},
        {"functionCall": {"name": "time", "args": {}, "id": "call_2"}},
    ]
    assert bodies[-1]["candidates"][0]["finishReason"] == "STOP"
    assert bodies[-1]["usageMetadata"]["candidatesTokenCount"] == 8


@pytest.mark.parametrize("thoughts", [True, False])
def test_reasoning_is_sent_as_thought_parts_only_when_asked(thoughts):
    chunk = ChatChunk(id="c", choices=[ChunkChoice(delta=Delta(reasoning_content="hmm"))])
    parts = _parts(_render([chunk], thoughts=thoughts))
    assert ({"text": "hmm", "thought": True} in parts) is thoughts


def test_finish_is_sent_once():
    stream = GeminiStream("m")
    assert len(stream.finish()) == 1 and stream.finish() == []


def test_a_failure_is_an_error_body_in_googles_shape_with_keys_scrubbed():
    exc = StreamInterrupted("upstream said sk-secret-123", provider="p", model="m")
    body = stream_error(exc, lambda text: text.replace("sk-secret-123", "[redacted]"))
    assert body["error"]["code"] == 502 and body["error"]["status"] == "UNAVAILABLE"
    assert "sk-secret" not in json.dumps(body)
    limited = stream_error(RateLimited("slow down", provider="p", model="m"), str)
    assert limited["error"]["status"] == "RESOURCE_EXHAUSTED"


def test_sse_events_are_data_lines_without_done():
    event = sse_event({"candidates": []})
    assert event.startswith(b"data: {") and event.endswith(b"\r\n\r\n") and b"[DONE]" not in event
