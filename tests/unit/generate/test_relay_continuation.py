"""``Generate.relay`` continuing a broken stream: who answered, what it cost, what it says."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator

import pytest

from orchestra.catalog.models import Catalog, ModelInfo
from orchestra.catalog.source import CatalogSource
from orchestra.errors import ConnectionFailed, StreamInterrupted
from orchestra.generate.continuation import ContinuationPolicy
from orchestra.generate.service import Generate
from orchestra.providers.base import CallOptions
from orchestra.providers.registry import Registry
from orchestra.resilience.breaker import BreakerPolicy, CircuitBreaker
from orchestra.resilience.budgets import AttemptBudgets, BudgetKnobs
from orchestra.resilience.deployment_stats import DeploymentStats
from orchestra.resilience.hedging import HedgeGate
from orchestra.routing.router import Router
from orchestra.schemas.chat import ChatChunk, ChatRequest, ChunkChoice, Delta, Usage
from orchestra.storage.memory import MemoryBreakerBackend, MemoryMetricsBackend
from orchestra.storage.model_stats import MetricsRecorder


def _model(provider: str, input_price: float, output_price: float) -> ModelInfo:
    return ModelInfo(
        id=f"{provider}/m",
        context_window=100_000,
        input_price=input_price,
        output_price=output_price,
        quality=1300,
        capabilities=frozenset({"streaming"}),
    )


CHEAP, DEAR = _model("cheap", 1e-6, 2e-6), _model("dear", 1e-5, 3e-5)


def _chunk(model: str, content: str | None = None, **kw: object) -> ChatChunk:
    return ChatChunk(
        id=f"{model}-id", model=model, choices=[ChunkChoice(delta=Delta(content=content, **kw))]
    )  # type: ignore[arg-type]


class Breaks:
    """Streams ``pieces``, then fails with ``error`` (or finishes, with usage)."""

    def __init__(self, name: str, pieces: list[str], error: Exception | None, usage: Usage) -> None:
        self.name, self.pieces, self.error, self.usage = name, pieces, error, usage
        self.requests: list[ChatRequest] = []

    async def complete(self, request: ChatRequest, model: str, options: CallOptions) -> None:
        raise NotImplementedError

    async def stream(
        self, request: ChatRequest, model: str, options: CallOptions
    ) -> AsyncIterator[ChatChunk]:
        self.requests.append(request)
        yield _chunk(model, "", role="assistant")
        for piece in self.pieces:
            yield _chunk(model, piece)
        if self.error is not None:
            raise self.error
        yield ChatChunk(model=model, choices=[ChunkChoice(delta=Delta(), finish_reason="stop")])
        yield ChatChunk(model=model, usage=self.usage)


def _gateway(first: Breaks, second: Breaks, policy: ContinuationPolicy) -> Generate:
    gateway = Generate(
        catalog=CatalogSource(base=Catalog([CHEAP, DEAR])),
        registry=Registry({"cheap": first, "dear": second}, {}),  # type: ignore[dict-item]
        router=Router({"cheap", "dear"}, max_candidates=2),
        breaker=CircuitBreaker(MemoryBreakerBackend(), BreakerPolicy(failure_threshold=5)),
        metrics=MetricsRecorder(MemoryMetricsBackend()),
    )
    gateway.continuation = policy
    return gateway


def _request() -> ChatRequest:
    return ChatRequest.model_validate(
        {
            "model": "cheap/m",
            "fallbacks": ["dear/m"],
            "messages": [{"role": "user", "content": "go"}],
            "stream": True,
        }
    )


async def test_the_answer_costs_both_calls_each_at_its_own_price(caplog) -> None:
    # Given cheap breaks after 36 characters (no usage) and dear finishes, reporting 40 + 8
    broke = ConnectionFailed("reset", provider="cheap", model="cheap/m")
    cheap = Breaks("cheap", ["x" * 36], broke, Usage.of(0, 0))
    dear = Breaks("dear", ["yz"], None, Usage.of(40, 8))
    gateway = _gateway(cheap, dear, ContinuationPolicy())
    handle = await gateway.open_stream(_request())
    with caplog.at_level(logging.INFO, logger="orchestra.generate"):
        chunks = [c async for c in gateway.relay(handle)]
    # Then the dear model finished the answer, and the usage counts both calls
    assert handle.model.id == "dear/m"
    prompt = handle.plan.prompt_tokens
    assert handle.usage == Usage.of(prompt + 40, 11 + 8)
    assert chunks[-1].usage == handle.usage
    # And the cost is cheap's estimated share at cheap's price plus dear's at dear's
    expected = CHEAP.cost(prompt, 11) + DEAR.cost(40, 8)
    assert handle.cost_usd == pytest.approx(expected)
    # And the attempts and the log say where the answer was continued
    assert [a.model for a in handle.attempts][-2:] == ["cheap/m", "dear/m"]
    assert handle.attempts[-2].outcome.startswith("interrupted:ConnectionFailed")
    assert "continued on dear/m (instruction)" in caplog.text
    assert {c.model for c in chunks} == {"cheap/m"} and len({c.id for c in chunks}) == 1


async def test_a_deployment_may_opt_out() -> None:
    broke = ConnectionFailed("reset", provider="cheap", model="cheap/m")
    cheap = Breaks("cheap", ["abc"], broke, Usage.of(0, 0))
    dear = Breaks("dear", ["d"], None, Usage.of(1, 1))
    gateway = _gateway(cheap, dear, ContinuationPolicy(allowed=lambda m: m != "cheap/m"))
    handle = await gateway.open_stream(_request())
    with pytest.raises(StreamInterrupted):
        _ = [c async for c in gateway.relay(handle)]
    assert dear.requests == []


class Hangs(Breaks):
    """Accepts the call and never sends a byte (until cancelled)."""

    async def stream(
        self, request: ChatRequest, model: str, options: CallOptions
    ) -> AsyncIterator[ChatChunk]:
        self.requests.append(request)
        await asyncio.Event().wait()
        yield _chunk(model, "never")


async def test_a_hung_candidate_costs_a_continuation_its_first_token_budget_only() -> None:
    # Given cheap breaks mid-answer, the next candidate hangs, and dear would continue
    broke = ConnectionFailed("reset", provider="cheap", model="cheap/m")
    cheap = Breaks("cheap", ["Hello, wor"], broke, Usage.of(0, 0))
    hung = Hangs("hung", [], None, Usage.of(0, 0))
    dear = Breaks("dear", ["ld!"], None, Usage.of(5, 2))
    hung_model = _model("hung", 1e-6, 2e-6)
    stats = DeploymentStats()
    gateway = Generate(
        catalog=CatalogSource(base=Catalog([CHEAP, hung_model, DEAR])),
        registry=Registry({"cheap": cheap, "hung": hung, "dear": dear}, {}),  # type: ignore[dict-item]
        router=Router({"cheap", "hung", "dear"}, max_candidates=3),
        breaker=CircuitBreaker(MemoryBreakerBackend(), BreakerPolicy(failure_threshold=5)),
        metrics=MetricsRecorder(MemoryMetricsBackend()),
        stats=stats,
        budgets=AttemptBudgets(
            BudgetKnobs(multiplier=1.0, floor_s=0.05, ceiling_s=0.1), stats, cold_s=lambda _: 0.05
        ),
        hedge=HedgeGate(enabled=False),
    )
    request = _request().model_copy(update={"fallbacks": ["hung/m", "dear/m"]})

    # When the stream is relayed
    started = time.perf_counter()
    handle = await gateway.open_stream(request)
    text = "".join(
        [c.choices[0].delta.content or "" async for c in gateway.relay(handle) if c.choices]
    )

    # Then the answer is whole, finished by dear, the hung call given up after its budget
    assert text == "Hello, world!"
    assert handle.model.id == "dear/m"
    assert time.perf_counter() - started < 2.0
    assert any(
        a.model == "hung/m" and a.outcome.startswith("ProviderTimeout") for a in handle.attempts
    )
    # And no deployment is left counted as in flight; the broken stream counts as a failure
    assert [stats.state(m).outstanding for m in ("cheap/m", "hung/m", "dear/m")] == [0, 0, 0]
    assert stats.error_rate("cheap/m") > 0.0
