"""The simulator as a :class:`~orchestra.providers.base.Provider`: latency, streaming and
fault injection around :class:`~orchestra.simulator.engine.SimulatorEngine`."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Iterator

from orchestra.errors import Overloaded, ProviderTimeout, RateLimited, ServerError
from orchestra.providers.base import CallOptions, ProviderConfig
from orchestra.providers.chunks import ChunkFactory
from orchestra.schemas.chat import (
    AssistantMessage,
    ChatChunk,
    ChatRequest,
    ChatResponse,
    Choice,
    ChunkChoice,
    Delta,
    ToolCallDelta,
)
from orchestra.simulator.engine import SimulatorEngine
from orchestra.simulator.models import SIMULATED_MODELS, SimulatedModel
from orchestra.simulator.oracle import Oracle, parse_accuracy
from orchestra.simulator.turn import Turn, TurnPlanner
from orchestra.tokens import estimate_prompt_tokens


class SimulatorProvider:
    """A Provider backed by :class:`SimulatorEngine`, with latency and fault injection."""

    def __init__(self, config: ProviderConfig, engine: SimulatorEngine | None = None) -> None:
        """Options: ``seed``, ``latency_scale``, ``failure_rate``; ``oracle`` (a dataset
        JSONL whose questions are answered right at each model's accuracy) and ``accuracy``
        (``sim-large=0.9,sim-small=0.5``: overrides of the models' accuracy there)."""
        self.name = config.name
        opts = config.options
        oracle = Oracle.load(str(opts["oracle"])) if opts.get("oracle") else None
        accuracy = parse_accuracy(str(opts.get("accuracy") or ""))
        seed = int(opts.get("seed", 7))
        self.engine = engine or SimulatorEngine(seed, oracle=oracle, accuracy=accuracy)
        self.latency_scale = float(opts.get("latency_scale", 1.0))
        self.failure_rate = float(opts.get("failure_rate", 0.0))
        self.turns = TurnPlanner(self.engine)
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

    async def complete(
        self, request: ChatRequest, model: str, options: CallOptions
    ) -> ChatResponse:
        await self._maybe_fail(model)
        turn = self.turns.plan(model, request)
        spec = self._spec(model)
        usage = turn.usage(estimate_prompt_tokens(request))
        total_ms = spec.ttft_ms + usage.completion_tokens / spec.tokens_per_s * 1000
        await self._sleep(total_ms, options, model)
        message = AssistantMessage(
            content=turn.text,
            tool_calls=turn.tool_calls or None,
            reasoning_content=turn.reasoning,
            thinking_blocks=turn.thinking_blocks(),
        )
        return ChatResponse(
            model=model,
            choices=[Choice(message=message, finish_reason=turn.finish_reason)],
            usage=usage,
        )

    async def stream(
        self, request: ChatRequest, model: str, options: CallOptions
    ) -> AsyncIterator[ChatChunk]:
        """The role chunk, reasoning pieces and its signature, text pieces or the tool call
        (id and name, then its arguments in pieces), the finish chunk, the usage chunk."""
        await self._maybe_fail(model)
        turn = self.turns.plan(model, request)
        spec = self._spec(model)
        await self._sleep(spec.ttft_ms, options, model)
        chunks = ChunkFactory(model)
        yield chunks.role()
        for delta in _deltas(turn):
            await self._sleep(1000 / spec.tokens_per_s, options, model)
            yield _chunk(chunks, delta)
        yield chunks.finish(turn.finish_reason)
        usage = turn.usage(estimate_prompt_tokens(request))
        yield ChatChunk(id=chunks.id, created=chunks.created, model=model, usage=usage)


def _pieces(text: str) -> list[str]:
    """Word-sized pieces that join back to ``text``."""
    return re.findall(r"\S+\s*|\s+", text)


def _deltas(turn: Turn) -> Iterator[Delta]:
    if turn.reasoning is not None:
        yield from (Delta(reasoning_content=p) for p in _pieces(turn.reasoning))
        yield Delta(reasoning_signature=turn.signature)
    for index, call in enumerate(turn.tool_calls):
        first = ToolCallDelta(
            index=index,
            id=call.id,
            type="function",
            function={"name": call.function.name, "arguments": ""},
        )
        yield Delta(tool_calls=[first])
        args = call.function.arguments
        step = max(len(args) // 3, 1)
        for start in range(0, len(args), step):
            piece = {"arguments": args[start : start + step]}
            yield Delta(tool_calls=[ToolCallDelta(index=index, function=piece)])
    if turn.text:
        yield from (Delta(content=p) for p in _pieces(turn.text))


def _chunk(chunks: ChunkFactory, delta: Delta) -> ChatChunk:
    return ChatChunk(
        id=chunks.id,
        created=chunks.created,
        model=chunks.model,
        choices=[ChunkChoice(delta=delta)],
    )
