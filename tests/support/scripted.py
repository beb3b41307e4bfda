"""A scripted fake provider: ``enqueue`` answers or errors per model, in order."""

from __future__ import annotations

import asyncio
from collections import defaultdict, deque
from collections.abc import AsyncIterator
from typing import Any

from orchestra.errors import ProviderError
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

Step = str | ProviderError | float  # text answer, error to raise, or seconds to stall


class ScriptedProvider:
    def __init__(self, name: str = "scripted") -> None:
        self.name = name
        self.script: dict[str, deque[Step]] = defaultdict(deque)
        self.calls: list[tuple[str, float]] = []
        #: models whose call was cancelled while waiting, and streams closed before the end
        self.cancelled: list[str] = []
        self.closed_early: list[str] = []
        self.requests: list[ChatRequest] = []

    def enqueue(self, model: str, *steps: Step) -> None:
        self.script[model].extend(steps)

    async def _next(self, model: str, options: CallOptions) -> str:
        self.calls.append((model, options.timeout))
        try:
            return await self._play(model, options)
        except asyncio.CancelledError:
            self.cancelled.append(model)
            raise

    async def _play(self, model: str, options: CallOptions) -> str:
        while True:
            step: Any = self.script[model].popleft() if self.script[model] else "ok"
            if isinstance(step, ProviderError):
                raise step
            if isinstance(step, float):
                await asyncio.sleep(min(step, options.timeout))
                if step > options.timeout:
                    from orchestra.errors import ProviderTimeout

                    raise ProviderTimeout("stalled", provider=self.name, model=model)
                continue
            return str(step)

    async def complete(
        self, request: ChatRequest, model: str, options: CallOptions
    ) -> ChatResponse:
        self.requests.append(request)
        text = await self._next(model, options)
        return ChatResponse(
            model=model,
            choices=[Choice(message=AssistantMessage(content=text))],
            usage=Usage.of(10, 5),
        )

    async def stream(
        self, request: ChatRequest, model: str, options: CallOptions
    ) -> AsyncIterator[ChatChunk]:
        self.requests.append(request)
        text = await self._next(model, options)
        finished = False
        try:
            yield ChatChunk(
                id="c1", model=model, choices=[ChunkChoice(delta=Delta(role="assistant"))]
            )
            words = text.split(" ")
            for i, word in enumerate(words):
                piece = word if i == len(words) - 1 else word + " "
                yield ChatChunk(
                    id="c1", model=model, choices=[ChunkChoice(delta=Delta(content=piece))]
                )
            yield ChatChunk(
                id="c1", model=model, choices=[ChunkChoice(delta=Delta(), finish_reason="stop")]
            )
            yield ChatChunk(id="c1", model=model, choices=[], usage=Usage.of(10, 5))
            finished = True
        finally:
            if not finished:
                self.closed_early.append(model)
