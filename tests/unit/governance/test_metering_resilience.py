"""Metering under resilience: hedges, fallbacks and the breaker see holds and refusals as
they should (a refusal is never a provider's failure; a hedge's loser releases its hold)."""

from __future__ import annotations

import random
from decimal import Decimal

import pytest

from orchestra.api.headers import routed_headers
from orchestra.caller import Principal
from orchestra.catalog.models import Catalog, ModelInfo
from orchestra.catalog.source import CatalogSource
from orchestra.config import Settings
from orchestra.errors import BudgetExceeded
from orchestra.generate.service import Generate
from orchestra.governance.admission import Admission, Governor, current_admission
from orchestra.governance.metering import Meter, MeteredProvider, prompt_tokens_of
from orchestra.governance.records import KeyPolicy, to_nanos
from orchestra.providers.registry import Registry
from orchestra.resilience.breaker import BreakerPolicy, CircuitBreaker
from orchestra.resilience.retry import RetryPolicy
from orchestra.routing.router import Router
from orchestra.schemas.chat import ChatRequest
from orchestra.storage.memory import MemoryBreakerBackend, MemoryMetricsBackend
from orchestra.storage.model_stats import MetricsRecorder

from support.governance import FakeLedger, FakePolicies
from support.scripted import ScriptedProvider, Stall

P = "scripted"


def _model(name: str, quality: float) -> ModelInfo:
    return ModelInfo(
        id=f"{P}/{name}",
        context_window=100_000,
        max_output_tokens=1000,
        input_price=1e-6,
        output_price=2e-6,
        quality=quality,
        latency_ms=10.0,  # cold hedge delay: the 0.25 s minimum
        capabilities=frozenset({"streaming"}),
    )


def _gateway(provider: ScriptedProvider) -> Generate:
    return Generate(
        catalog=CatalogSource(base=Catalog([_model("a", 1400), _model("b", 1300)])),
        registry=Registry({P: MeteredProvider(provider, Meter())}, {}),  # type: ignore[dict-item]
        router=Router({P}, max_candidates=2),
        breaker=CircuitBreaker(MemoryBreakerBackend(), BreakerPolicy(failure_threshold=1)),
        metrics=MetricsRecorder(MemoryMetricsBackend()),
        retry=RetryPolicy(attempts_per_model=1, rng=random.Random(1)),
        deadline_s=5.0,
    )


REQUEST = ChatRequest.model_validate(
    {"model": "auto:quality", "messages": [{"role": "user", "content": "hi " * 400}]}
)


async def _admit(ledger: FakeLedger, calls_allowed: float) -> Admission:
    """An admission whose day budget allows ``calls_allowed`` worst cases of REQUEST."""
    probe = Admission("k")
    worst = _model("a", 0).cost(prompt_tokens_of(probe, REQUEST), 1000)
    budget = Decimal(str(worst * calls_allowed))
    store = FakePolicies(keys={"k": KeyPolicy(key_id="k", budget_day_usd=budget, rpm=100)})
    admission = await Governor(Settings(), policies=store, ledger=ledger).admit(Principal("k"))
    current_admission.set(admission)
    return admission


async def test_a_hedges_loser_releases_its_hold() -> None:
    # Given a first model that stalls and a budget for both calls
    ledger = FakeLedger()
    await _admit(ledger, 2.5)
    provider = ScriptedProvider(P)
    provider.enqueue("a", Stall(30.0))
    # When the hedge answers and the first attempt is cancelled
    result = await _gateway(provider).generate(REQUEST)
    # Then two holds were taken: the winner settled, the loser released, nothing left held
    assert result.model.id == f"{P}/b" and provider.cancelled == ["a"]
    assert len(ledger.holds) == 2 and len(ledger.settled) == 1 and len(ledger.released) == 1
    assert ledger.live == {}
    assert ledger.committed["key:k"] == to_nanos(_model("b", 0).cost(10, 5))


async def test_a_refused_hedge_only_means_no_hedge() -> None:
    # Given a budget for one worst case only, and a first attempt slower than its hedge delay
    ledger = FakeLedger()
    await _admit(ledger, 1.5)
    provider = ScriptedProvider(P)
    provider.enqueue("a", Stall(0.4))
    gateway = _gateway(provider)
    # When the hedge's hold is refused
    result = await gateway.generate(REQUEST)
    # Then the first attempt's answer stands; no hedge is reported, b was never called
    assert result.model.id == f"{P}/a"
    assert "x-orchestra-hedge" not in routed_headers(result)
    assert [model for model, _ in provider.calls] == ["a"]
    assert gateway.stats.state(f"{P}/b").outstanding == 0
    assert ledger.live == {} and len(ledger.settled) == 1


async def test_a_refusal_is_raised_as_it_is_without_fallback_or_breaker() -> None:
    # Given a budget smaller than one call's worst case
    ledger = FakeLedger()
    admission = await _admit(ledger, 0.5)
    provider = ScriptedProvider(P)
    gateway = _gateway(provider)
    # When a request comes, buffered or streamed
    for call in (gateway.generate, gateway.open_stream):
        with pytest.raises(BudgetExceeded) as refused:
            await call(REQUEST)
        assert refused.value.status == 429 and refused.value.budget == "key:k:day"
    # Then no model was called, no breaker counted it, nothing is in flight or charged
    assert provider.calls == []
    assert gateway.breaker.available(f"{P}/a") and gateway.breaker.available(f"{P}/b")
    assert gateway.stats.state(f"{P}/a").outstanding == 0
    assert ledger.committed.get("key:k", 0) == 0 and not admission.counted
