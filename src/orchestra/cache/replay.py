"""A cached answer replayed as the stream an upstream would have sent.

A streamed request served from cache goes out through the same relay and renderers as a
live answer, so every inbound format (chat completions, Anthropic Messages, Responses,
Gemini) streams it unchanged: a first chunk with the role, the text as one chunk per word
(each with its leading space, so the pieces join back to the exact text), reasoning the
same way before it, each tool call as one delta, the finish chunk, then the usage chunk
(the relay's readers drop it when the client did not ask for usage).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator

from orchestra.schemas.chat import (
    ChatChunk,
    ChatResponse,
    Choice,
    ChunkChoice,
    Delta,
    ToolCallDelta,
)

#: a word with the whitespace before it (leading whitespace of the text rides the first)
_WORDS = re.compile(r"\s*\S+|\s+$")


def words(text: str) -> list[str]:
    """``text`` in pieces that join back to it exactly, one word each."""
    return _WORDS.findall(text) or [text]


def _chunk(
    response: ChatResponse, index: int, delta: Delta, finish: str | None = None
) -> ChatChunk:
    choice = ChunkChoice(index=index, delta=delta, finish_reason=finish)  # type: ignore[arg-type]
    return ChatChunk(
        id=response.id, created=response.created, model=response.model, choices=[choice]
    )


def _choice_chunks(response: ChatResponse, choice: Choice) -> Iterator[ChatChunk]:
    message, index = choice.message, choice.index
    if message.reasoning_content:
        for piece in words(message.reasoning_content):
            yield _chunk(response, index, Delta(reasoning_content=piece))
    if message.content:
        for piece in words(message.content):
            yield _chunk(response, index, Delta(content=piece))
    for position, call in enumerate(message.tool_calls or ()):
        function = {"name": call.function.name, "arguments": call.function.arguments}
        delta = ToolCallDelta(index=position, id=call.id, type="function", function=function)
        yield _chunk(response, index, Delta(tool_calls=[delta]))
    yield _chunk(response, index, Delta(), choice.finish_reason or "stop")


def replay_chunks(response: ChatResponse) -> tuple[ChatChunk, AsyncIterator[ChatChunk]]:
    """The first chunk (the role) and the rest, as a live stream's."""
    first = _chunk(response, 0, Delta(role="assistant", content=""))

    async def rest() -> AsyncIterator[ChatChunk]:
        for choice in response.choices:
            for chunk in _choice_chunks(response, choice):
                yield chunk
        if response.usage is not None:
            yield ChatChunk(
                id=response.id,
                created=response.created,
                model=response.model,
                usage=response.usage.model_copy(),
            )

    return first, rest()
