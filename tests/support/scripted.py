"""A scripted fake provider: ``enqueue`` answers or errors per model, in order.

Each call takes the model's next steps until one answers or fails (``"ok"`` once the
script runs out):

- ``str``: a text answer, complete or streamed word by word, with the provider's usage;
- ``ChatResponse``: returned as is by ``complete`` (e.g. one without usage);
- ``list[ChatChunk]``: streamed as is by ``stream`` (e.g. a stream without an answer);
- ``ProviderError``: raised;
- ``float``: a stall of that many seconds, cut at the call's timeout as a ``ProviderTimeout``;
- ``Stall``: a stall that ignores the call's timeout, as a broken adapter would.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict, deque
from collections.abc import AsyncIterator
from dataclasses import dataclass

from orchestra.errors import ProviderError, ProviderTimeout
from orchestra.providers.base import CallOptions
from orchestra.schemas.chat import (
    AssistantMessage,
    ChatChunk,
    ChatRequest,
    ChatResponse,
    Choice,
    ChunkChoice,
    Delta,
    Usage,
)


@dataclass(frozen=True)
class Stall:
    """Sleep ``seconds`` whatever timeout the call was given, then take the next step."""

    seconds: float


Answer = str | ChatResponse | list[ChatChunk]
Step = Answer | ProviderError | float | Stall


class ScriptedProvider:
    def __init__(self, name: str = "scripted", usage: Usage | None = None) -> None:
        self.name = name
        #: what every text answer reports having used
        self.usage = usage or Usage.of(10, 5)
        self.script: dict[str, deque[Step]] = defaultdict(deque)
        self.calls: list[tuple[str, float]] = []
        #: models whose call was cancelled while waiting, and streams closed before the end
        self.cancelled: list[str] = []
        self.closed_early: list[str] = []
        self.requests: list[ChatRequest] = []

    def enqueue(self, model: str, *steps: Step) -> None:
        self.script[model].extend(steps)

    async def _next(self, model: str, options: CallOptions) -> Answer:
        self.calls.append((model, options.timeout))
        try:
            return await self._play(model, options)
        except asyncio.CancelledError:
            self.cancelled.append(model)
            raise

    async def _play(self, model: str, options: CallOptions) -> Answer:
        while True:
            step = self.script[model].popleft() if self.script[model] else "ok"
            if isinstance(step, ProviderError):
                raise step
            if isinstance(step, Stall):
                await asyncio.sleep(step.seconds)
                continue
            if isinstance(step, float):
                await asyncio.sleep(min(step, options.timeout))
                if step > options.timeout:
                    raise ProviderTimeout("stalled", provider=self.name, model=model)
                continue
            return step

    async def complete(
        self, request: ChatRequest, model: str, options: CallOptions
    ) -> ChatResponse:
        self.requests.append(request)
        answer = await self._next(model, options)
        if isinstance(answer, ChatResponse):
            return answer
        if isinstance(answer, list):
            raise TypeError(f"{model}: chunks are scripted for streaming models only")
        return ChatResponse(
            model=model,
            choices=[Choice(message=AssistantMessage(content=answer))],
            usage=self.usage,
        )

    async def stream(
        self, request: ChatRequest, model: str, options: CallOptions
    ) -> AsyncIterator[ChatChunk]:
        self.requests.append(request)
        answer = await self._next(model, options)
        if isinstance(answer, ChatResponse):
            raise TypeError(f"{model}: a whole response is scripted for complete only")
        chunks = answer if isinstance(answer, list) else self._chunks(model, answer)
        finished = False
        try:
            for chunk in chunks:
                yield chunk
            finished = True
        finally:
            if not finished:
                self.closed_early.append(model)

    def _chunks(self, model: str, text: str) -> list[ChatChunk]:
        """A text answer as a vendor streams it: role, words, finish, then usage."""
        chunks = [
            ChatChunk(id="c1", model=model, choices=[ChunkChoice(delta=Delta(role="assistant"))])
        ]
        words = text.split(" ")
        for i, word in enumerate(words):
            piece = word if i == len(words) - 1 else word + " "
            chunks.append(
                ChatChunk(id="c1", model=model, choices=[ChunkChoice(delta=Delta(content=piece))])
            )
        done = ChunkChoice(delta=Delta(), finish_reason="stop")
        chunks.append(ChatChunk(id="c1", model=model, choices=[done]))
        chunks.append(ChatChunk(id="c1", model=model, choices=[], usage=self.usage))
        return chunks
