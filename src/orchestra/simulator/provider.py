"""The simulator as a :class:`~orchestra.providers.base.Provider`: latency, streaming and
fault injection around :class:`~orchestra.simulator.engine.SimulatorEngine`."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator

from orchestra.errors import Overloaded, ProviderTimeout, RateLimited, ServerError
from orchestra.providers.base import CallOptions, ProviderConfig
from orchestra.schemas.chat import (
    AssistantMessage,
    ChatChunk,
    ChatRequest,
    ChatResponse,
    Choice,
    ChunkChoice,
    Delta,
    Usage,
    new_completion_id,
)
from orchestra.simulator.engine import SimulatorEngine
from orchestra.simulator.models import SIMULATED_MODELS, SimulatedModel
from orchestra.tokens import estimate_prompt_tokens, estimate_text_tokens


class SimulatorProvider:
    """A Provider backed by :class:`SimulatorEngine`, with latency and fault injection."""

    def __init__(self, config: ProviderConfig, engine: SimulatorEngine | None = None) -> None:
        self.name = config.name
        opts = config.options
        self.engine = engine or SimulatorEngine(int(opts.get("seed", 7)))
        self.latency_scale = float(opts.get("latency_scale", 1.0))
        self.failure_rate = float(opts.get("failure_rate", 0.0))
        self._calls = 0

    async def _maybe_fail(self, model: str) -> None:
        self._calls += 1
        if self.failure_rate <= 0:
            return
        draw = self.engine._draw(model, "fault", str(self._calls))
        if draw >= self.failure_rate:
            return
        kinds = (ServerError, Overloaded, RateLimited, ProviderTimeout)
        kind = kinds[int(draw / self.failure_rate * len(kinds)) % len(kinds)]
        status = {ServerError: 500, Overloaded: 503, RateLimited: 429, ProviderTimeout: 504}[kind]
        raise kind(
            f"simulated {status} from {model}",
            provider=self.name,
            model=model,
            upstream_status=status,
        )

    def _spec(self, model: str) -> SimulatedModel:
        return SIMULATED_MODELS.get(model, SIMULATED_MODELS["sim-medium"])

    async def _sleep(self, ms: float, options: CallOptions, model: str) -> None:
        seconds = ms * self.latency_scale / 1000.0
        if seconds > options.timeout:
            await asyncio.sleep(options.timeout)
            raise ProviderTimeout("simulated timeout", provider=self.name, model=model)
        if seconds > 0:
            await asyncio.sleep(seconds)

    def _usage(self, request: ChatRequest, text: str) -> Usage:
        return Usage.of(estimate_prompt_tokens(request), estimate_text_tokens(text))

    async def complete(
        self, request: ChatRequest, model: str, options: CallOptions
    ) -> ChatResponse:
        await self._maybe_fail(model)
        text = self.engine.answer(model, request)
        spec = self._spec(model)
        usage = self._usage(request, text)
        total_ms = spec.ttft_ms + usage.completion_tokens / spec.tokens_per_s * 1000
        await self._sleep(total_ms, options, model)
        return ChatResponse(
            model=model,
            choices=[Choice(message=AssistantMessage(content=text), finish_reason="stop")],
            usage=usage,
        )

    async def stream(
        self, request: ChatRequest, model: str, options: CallOptions
    ) -> AsyncIterator[ChatChunk]:
        await self._maybe_fail(model)
        text = self.engine.answer(model, request)
        spec = self._spec(model)
        await self._sleep(spec.ttft_ms, options, model)
        cid = new_completion_id()
        yield ChatChunk(id=cid, model=model, choices=[ChunkChoice(delta=Delta(role="assistant"))])
        pieces = re.findall(r"\S+\s*", text)
        for piece in pieces:
            await self._sleep(1000 / spec.tokens_per_s, options, model)
            yield ChatChunk(id=cid, model=model, choices=[ChunkChoice(delta=Delta(content=piece))])
        yield ChatChunk(
            id=cid, model=model, choices=[ChunkChoice(delta=Delta(), finish_reason="stop")]
        )
        yield ChatChunk(id=cid, model=model, choices=[], usage=self._usage(request, text))
