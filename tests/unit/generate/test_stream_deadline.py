"""A stream still running at the request's deadline ends with an error, not a hung function."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from orchestra.catalog.models import Catalog, ModelInfo
from orchestra.catalog.source import CatalogSource
from orchestra.errors import StreamInterrupted
from orchestra.generate.service import Generate
from orchestra.providers.base import CallOptions
from orchestra.providers.registry import Registry
from orchestra.resilience.breaker import BreakerPolicy, CircuitBreaker
from orchestra.routing.router import Router
from orchestra.schemas.chat import ChatChunk, ChatRequest, ChunkChoice, Delta
from orchestra.storage.memory import MemoryBreakerBackend, MemoryMetricsBackend
from orchestra.storage.model_stats import MetricsRecorder

MODEL = ModelInfo(
    id="slow/m",
    context_window=100_000,
    input_price=1e-6,
    output_price=2e-6,
    quality=1300,
    capabilities=frozenset({"streaming"}),
)


class Trickle:
    """Answers at once, then one token every ``gap`` seconds, forever."""

    name = "slow"

    def __init__(self, gap: float) -> None:
        self.gap = gap
        self.closed = False

    async def complete(self, request: ChatRequest, model: str, options: CallOptions) -> None:
        raise NotImplementedError

    async def stream(
        self, request: ChatRequest, model: str, options: CallOptions
    ) -> AsyncIterator[ChatChunk]:
        try:
            while True:
                yield ChatChunk(
                    id="c", model=model, choices=[ChunkChoice(delta=Delta(content="x"))]
                )
                await asyncio.sleep(self.gap)
        finally:
            self.closed = True


def _gateway(provider: Trickle, breaker: CircuitBreaker, deadline: float) -> Generate:
    return Generate(
        catalog=CatalogSource(base=Catalog([MODEL])),
        registry=Registry({"slow": provider}, {}),  # type: ignore[dict-item]
        router=Router({"slow"}, max_candidates=1),
        breaker=breaker,
        metrics=MetricsRecorder(MemoryMetricsBackend()),
        deadline_s=deadline,
    )


@pytest.mark.parametrize("gap", [0.01, 5.0])  # steady tokens, or one long silence
async def test_the_stream_ends_at_the_deadline_with_an_error_and_no_breaker_charge(
    gap: float,
) -> None:
    # Given a model that never stops answering and a 0.3 s deadline
    provider = Trickle(gap)
    breaker = CircuitBreaker(MemoryBreakerBackend(), BreakerPolicy(failure_threshold=1))
    gateway = _gateway(provider, breaker, deadline=0.3)
    request = ChatRequest.model_validate(
        {"model": "slow/m", "messages": [{"role": "user", "content": "go"}], "stream": True}
    )
    handle = await gateway.open_stream(request)
    started = time.monotonic()
    # When the answer is relayed
    with pytest.raises(StreamInterrupted, match="deadline") as raised:
        async with asyncio.timeout(3):  # a regression fails here instead of hanging
            async for _ in gateway.relay(handle):
                pass
    # Then it stops at the deadline, closes the upstream stream, and the model's breaker
    # is untouched: our deadline is not the model's failure
    assert time.monotonic() - started < 1.0
    assert raised.value.code == "stream_interrupted"
    assert provider.closed
    await breaker.prefetch([MODEL.id])
    assert breaker.view(MODEL.id).available
