"""Generate's hedges as clients and operators see them: the x-orchestra-hedge header, the
hedge metrics and observer report, upstream headers fed into the deployments' stats."""

from __future__ import annotations

import random
from typing import Any

from orchestra.api.headers import routed_headers
from orchestra.catalog.models import Catalog, ModelInfo
from orchestra.catalog.source import CatalogSource
from orchestra.generate.service import Generate
from orchestra.providers.registry import Registry
from orchestra.resilience.breaker import BreakerPolicy, CircuitBreaker
from orchestra.resilience.hedging import HedgeGate
from orchestra.resilience.retry import RetryPolicy
from orchestra.routing.router import Router
from orchestra.schemas.chat import ChatRequest
from orchestra.storage.memory import MemoryBreakerBackend, MemoryMetricsBackend
from orchestra.storage.model_stats import MetricsRecorder

from support.scripted import ScriptedProvider, Stall

P = "scripted"


def _model(name: str, quality: float) -> ModelInfo:
    return ModelInfo(
        id=f"{P}/{name}",
        context_window=100_000,
        input_price=1e-6,
        output_price=2e-6,
        quality=quality,
        latency_ms=10.0,  # cold hedge delay: the 0.25 s minimum
        capabilities=frozenset({"streaming"}),
    )


class Seen:
    def __init__(self) -> None:
        self.hedges: list[tuple[str, bool, float]] = []

    def attempt(self, *args: Any) -> None: ...

    def completed(self, *args: Any, **kw: Any) -> None: ...

    def breaker_opened(self, *args: Any) -> None: ...

    def guardrail(self, *args: Any) -> None: ...

    def refused(self, *args: Any) -> None: ...

    def fused(self, *args: Any) -> None: ...

    def hedged(self, model_id: str, *, won: bool, cost_usd: float) -> None:
        self.hedges.append((model_id, won, cost_usd))


def _gateway(
    provider: ScriptedProvider, observer: Seen, hedge: HedgeGate | None = None
) -> Generate:
    return Generate(
        catalog=CatalogSource(base=Catalog([_model("a", 1400), _model("b", 1300)])),
        registry=Registry({P: provider}, {}),
        router=Router({P}, max_candidates=2),
        breaker=CircuitBreaker(MemoryBreakerBackend(), BreakerPolicy()),
        metrics=MetricsRecorder(MemoryMetricsBackend()),
        retry=RetryPolicy(attempts_per_model=1, rng=random.Random(1)),
        observer=observer,
        deadline_s=5.0,
        hedge=hedge,
    )


def _request() -> ChatRequest:
    return ChatRequest.model_validate(
        {"model": "auto:quality", "messages": [{"role": "user", "content": "hi " * 400}]}
    )


async def test_a_won_hedge_shows_in_the_header_metrics_and_observer():
    # Given a first model that stalls and a second that answers
    provider = ScriptedProvider(P)
    provider.enqueue("a", Stall(30.0))
    observer = Seen()
    gateway = _gateway(provider, observer)
    # When a buffered request runs
    result = await gateway.generate(_request())
    # Then b answered, a was cancelled, and the hedge is reported everywhere
    assert result.model.id == f"{P}/b" and provider.cancelled == ["a"]
    header = routed_headers(result)["x-orchestra-hedge"]
    assert header == f"started;delay_ms=250;winner={P}/b;loser={P}/a"
    cost = result.plan.prompt_tokens * 1e-6  # the loser's prompt at its input price
    assert observer.hedges == [(f"{P}/a", True, cost)]
    await gateway.metrics.flush()
    rows = await gateway.metrics._backend.query(f"{P}/a", "")  # type: ignore[attr-defined]
    assert sum(r.get("hedges", 0) for r in rows) == 1
    assert sum(r.get("hedge_cost_usd", 0) for r in rows) == cost
    # and only the answer's own attempts count as fallbacks (the loser ran beside it)
    assert gateway.stats.state(f"{P}/a").outstanding == 0


async def test_a_won_stream_hedge_releases_the_deployment_when_relayed():
    provider = ScriptedProvider(P)
    provider.enqueue("a", Stall(30.0))
    gateway = _gateway(provider, Seen())
    handle = await gateway.open_stream(_request())
    assert handle.model.id == f"{P}/b" and handle.hedge.winner == f"{P}/b"
    assert gateway.stats.state(f"{P}/b").outstanding == 1  # the stream is still open
    text = "".join(
        [c.choices[0].delta.content or "" async for c in gateway.relay(handle) if c.choices]
    )
    assert text == "ok"
    assert gateway.stats.state(f"{P}/b").outstanding == 0
    assert gateway.stats.state(f"{P}/b").ttft_s.count == 1


async def test_no_hedge_header_without_a_hedge():
    provider = ScriptedProvider(P)
    provider.enqueue("a", Stall(0.4))
    result = await _gateway(provider, Seen(), HedgeGate(enabled=False)).generate(_request())
    assert result.model.id == f"{P}/a"
    assert "x-orchestra-hedge" not in routed_headers(result)
