"""Building OpenAI ``chat.completion.chunk`` objects from other vendors' stream events.

Every adapter's stream follows one convention, which the gateway and the API rely on:
a first chunk with ``role``, then content and tool-call deltas, one chunk carrying the
``finish_reason``, then exactly one usage-only chunk (``choices == []``). A stream that
ends before its finish raises, so a truncated answer is never passed off as complete.
"""

from __future__ import annotations

import time

from orchestra.schemas.chat import (
    ChatChunk,
    ChunkChoice,
    Delta,
    FinishReason,
    ToolCallDelta,
    Usage,
    new_completion_id,
)


class ChunkFactory:
    """Stamps every chunk of one stream with the same id, model and creation time."""

    def __init__(self, model: str, completion_id: str | None = None) -> None:
        self.model = model
        self.id = completion_id or new_completion_id()
        self.created = int(time.time())
        self.finished = False

    def _chunk(self, delta: Delta, finish: FinishReason | None = None) -> ChatChunk:
        return ChatChunk(
            id=self.id,
            created=self.created,
            model=self.model,
            choices=[ChunkChoice(delta=delta, finish_reason=finish)],
        )

    def role(self) -> ChatChunk:
        return self._chunk(Delta(role="assistant", content=""))

    def text(self, text: str) -> ChatChunk:
        return self._chunk(Delta(content=text))

    def tool_call(
        self,
        index: int,
        *,
        call_id: str | None = None,
        name: str | None = None,
        arguments: str = "",
    ) -> ChatChunk:
        function = {"arguments": arguments}
        if name is not None:
            function["name"] = name
        delta = ToolCallDelta(
            index=index, id=call_id, type="function" if call_id else None, function=function
        )
        return self._chunk(Delta(tool_calls=[delta]))

    def reasoning(
        self,
        text: str | None = None,
        *,
        signature: str | None = None,
        redacted: str | None = None,
    ) -> ChatChunk:
        """A reasoning piece, a signed block's signature, or a whole redacted block."""
        return self._chunk(
            Delta(reasoning_content=text, reasoning_signature=signature, redacted_thinking=redacted)
        )

    def finish(self, reason: FinishReason) -> ChatChunk:
        self.finished = True
        return self._chunk(Delta(), reason)

    def usage(
        self,
        prompt_tokens: int,
        completion_tokens: int,
        *,
        cached: int = 0,
        cache_creation: int = 0,
        reasoning: int = 0,
    ) -> ChatChunk:
        usage = Usage.of(
            prompt_tokens,
            completion_tokens,
            cached=cached,
            cache_creation=cache_creation,
            reasoning=reasoning,
        )
        return ChatChunk(
            id=self.id, created=self.created, model=self.model, choices=[], usage=usage
        )
