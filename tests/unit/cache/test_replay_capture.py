"""A cached answer replayed as a stream, and a relayed stream captured back: each the
other's inverse (text, reasoning, tool calls, finish reason, usage)."""

from __future__ import annotations

import pytest

from orchestra.cache.capture import StreamCapture
from orchestra.cache.replay import replay_chunks, words
from orchestra.schemas.chat import ChatChunk, ChatResponse, ChunkChoice, Delta, Usage


def _response(**message: object) -> ChatResponse:
    return ChatResponse.model_validate(
        {
            "id": "chatcmpl-1",
            "created": 5,
            "model": "alpha/m1",
            "choices": [
                {"index": 0, "message": {"role": "assistant", **message}, "finish_reason": "stop"}
            ],
            "usage": {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7},
        }
    )


@pytest.mark.parametrize("text", ["Hello there, world.", "  lead\nand\ttabs  ", "one", "a  b"])
def test_words_join_back_to_the_text(text: str) -> None:
    pieces = words(text)
    assert "".join(pieces) == text
    assert all(p.strip() or p == pieces[-1] for p in pieces)


async def _all(response: ChatResponse) -> list[ChatChunk]:
    first, rest = replay_chunks(response)
    return [first, *[chunk async for chunk in rest]]


async def test_text_is_replayed_word_by_word_then_finish_then_usage() -> None:
    chunks = await _all(_response(content="The answer is 42."))
    assert chunks[0].choices[0].delta.role == "assistant"
    texts = [
        c.choices[0].delta.content for c in chunks[1:] if c.choices and c.choices[0].delta.content
    ]
    assert texts == ["The", " answer", " is", " 42."]
    assert chunks[-2].choices[0].finish_reason == "stop"
    assert chunks[-1].choices == [] and chunks[-1].usage == Usage.of(3, 4)
    assert {c.id for c in chunks} == {"chatcmpl-1"} and {c.model for c in chunks} == {"alpha/m1"}


async def test_tool_calls_and_reasoning_round_trip_through_capture() -> None:
    call = {
        "id": "call_1",
        "type": "function",
        "function": {"name": "look", "arguments": '{"q": 1}'},
    }
    original = _response(content=None, tool_calls=[call], reasoning_content="Think first.")
    original.choices[0].finish_reason = "tool_calls"
    capture = StreamCapture()
    for chunk in await _all(original):
        capture.feed(chunk)
    again = capture.response()
    assert again is not None
    assert again.model_dump(exclude={"created"}) == original.model_dump(exclude={"created"})


async def test_a_replayed_answer_captures_back_to_itself() -> None:
    original = _response(content="  Two words  ")
    capture = StreamCapture()
    for chunk in await _all(original):
        capture.feed(chunk)
    assert capture.response() == original


def test_a_stream_without_its_finish_is_no_answer() -> None:
    capture = StreamCapture()
    capture.feed(ChatChunk(id="x", model="m", choices=[ChunkChoice(delta=Delta(content="cut"))]))
    assert capture.response() is None
    assert StreamCapture().response() is None


def test_capture_copies_usage_before_a_reader_drops_it() -> None:
    capture = StreamCapture()
    chunk = ChatChunk(id="x", model="m", usage=Usage.of(1, 2))
    capture.feed(
        ChatChunk(
            id="x", model="m", choices=[ChunkChoice(delta=Delta(content="a"), finish_reason="stop")]
        )
    )
    capture.feed(chunk)
    chunk.usage = None  # what the chat route does when the client did not ask for usage
    answer = capture.response()
    assert answer is not None and answer.usage == Usage.of(1, 2)
