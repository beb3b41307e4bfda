"""Fallback chain semantics over a scripted provider (no network, no AWS)."""

from __future__ import annotations

import random
from typing import Any

import pytest

from orchestra.catalog.models import Catalog, ModelInfo
from orchestra.catalog.source import CatalogSource
from orchestra.errors import (
    AllCandidatesFailed,
    ContextLengthExceeded,
    ProviderBadRequest,
    ProviderTimeout,
    RateLimited,
    ServerError,
)
from orchestra.generate.service import Generate
from orchestra.providers.registry import Registry
from orchestra.resilience.breaker import BreakerPolicy, CircuitBreaker
from orchestra.resilience.retry import RetryPolicy
from orchestra.routing.router import Router
from orchestra.schemas.chat import ChatRequest
from orchestra.storage.memory import MemoryBreakerBackend, MemoryMetricsBackend
from orchestra.storage.model_stats import MetricsRecorder

from support.scripted import ScriptedProvider

P = "scripted"


def _model(name: str, quality: float, window: int = 100_000) -> ModelInfo:
    return ModelInfo(
        id=f"{P}/{name}",
        context_window=window,
        input_price=1e-6,
        output_price=2e-6,
        quality=quality,
        capabilities=frozenset({"streaming", "tools"}),
    )


MODELS = [_model("a", 1400, 8_000), _model("b", 1350, 8_000), _model("big", 1300, 500_000)]


def _gateway(
    provider: ScriptedProvider, *, failures: int = 3, attempts: int = 2, deadline: float = 5.0
) -> Generate:
    breaker = CircuitBreaker(
        MemoryBreakerBackend(), BreakerPolicy(failure_threshold=failures, cooldown_s=60)
    )
    return Generate(
        catalog=CatalogSource(base=Catalog(MODELS)),
        registry=Registry({P: provider}, {}),
        router=Router({P}, max_candidates=3),
        breaker=breaker,
        metrics=MetricsRecorder(MemoryMetricsBackend()),
        retry=RetryPolicy(attempts_per_model=attempts, base_delay_s=0.01, rng=random.Random(1)),
        deadline_s=deadline,
    )


def _request(model: str = "auto:quality", **kw: object) -> ChatRequest:
    return ChatRequest.model_validate(
        {"model": model, "messages": [{"role": "user", "content": "hi"}], **kw}
    )


def _err(kind: type, model: str, **kw: object) -> Exception:
    return kind("boom", provider=P, model=model, **kw)


async def test_retryable_error_is_retried_on_the_same_model_first():
    provider = ScriptedProvider(P)
    provider.enqueue("a", _err(ServerError, "a"), "fine")
    result = await _gateway(provider).generate(_request())
    assert result.model.id == "scripted/a"
    assert [c[0] for c in provider.calls] == ["a", "a"]
    assert result.response is not None and result.response.text() == "fine"


async def test_client_error_stops_the_chain_at_once():
    provider = ScriptedProvider(P)
    provider.enqueue("a", _err(ProviderBadRequest, "a"))
    with pytest.raises(ProviderBadRequest):
        await _gateway(provider).generate(_request())
    assert [c[0] for c in provider.calls] == ["a"]


async def test_context_length_error_skips_to_a_larger_window():
    provider = ScriptedProvider(P)
    provider.enqueue("a", _err(ContextLengthExceeded, "a"))
    result = await _gateway(provider).generate(_request())
    # b has the same 8k window as a, so it is skipped without a call
    assert result.model.id == "scripted/big"
    assert [c[0] for c in provider.calls] == ["a", "big"]
    assert any(a.outcome == "skipped:smaller_context_window" for a in result.attempts)


async def test_long_retry_after_moves_on_instead_of_waiting():
    provider = ScriptedProvider(P)
    provider.enqueue("a", _err(RateLimited, "a", retry_after=120.0))
    result = await _gateway(provider).generate(_request())
    assert result.model.id == "scripted/b"
    assert [c[0] for c in provider.calls] == ["a", "b"]


async def test_an_adapter_bug_counts_as_a_failure_not_a_crash():
    class Broken(ScriptedProvider):
        async def complete(self, request, model, options):  # type: ignore[override]
            if model == "a":
                raise RuntimeError("bug")
            return await super().complete(request, model, options)

    result = await _gateway(Broken(P)).generate(_request())
    assert result.model.id == "scripted/b"
    assert result.attempts[0].outcome.startswith("MalformedResponse")


async def test_every_model_timing_out_answers_504():
    provider = ScriptedProvider(P)
    for name in ("a", "b", "big"):
        provider.enqueue(name, *[_err(ProviderTimeout, name)] * 2)
    with pytest.raises(AllCandidatesFailed) as info:
        await _gateway(provider).generate(_request())
    assert info.value.status == 504
    assert len(info.value.attempts) == 6


async def test_explicit_model_without_fallbacks_only_uses_that_model():
    provider = ScriptedProvider(P)
    provider.enqueue("b", _err(ServerError, "b"), _err(ServerError, "b"))
    with pytest.raises(AllCandidatesFailed) as info:
        await _gateway(provider).generate(_request("scripted/b"))
    assert {a.model for a in info.value.attempts} == {"scripted/b"}
    assert info.value.status == 502


async def test_per_attempt_budget_leaves_time_for_the_next_candidate():
    provider = ScriptedProvider(P)
    provider.enqueue("a", 30.0)  # stalls far past the deadline
    result = await _gateway(provider, attempts=1, deadline=2.0).generate(_request())
    assert result.model.id == "scripted/b"
    # the stalled attempt was cut at its share of the deadline, not at the deadline
    first = result.attempts[0]
    assert first.model == "scripted/a" and first.outcome.startswith("ProviderTimeout")
    assert first.latency_ms < 2000.0 * 0.75


async def test_breaker_open_models_are_held_back_and_reported():
    provider = ScriptedProvider(P)
    provider.enqueue("a", _err(ServerError, "a"))
    gateway = _gateway(provider, failures=1, attempts=1)
    await gateway.generate(_request())  # opens a's breaker, b answers
    plan = await gateway.plan(_request())
    assert [c.model.id for c in plan.candidates] == ["scripted/b", "scripted/big"]
    assert ("scripted/a", "breaker_open") in plan.rejected


async def test_streams_fall_back_before_the_first_chunk():
    provider = ScriptedProvider(P)
    provider.enqueue("a", _err(ServerError, "a"), _err(ServerError, "a"))
    gateway = _gateway(provider)
    handle = await gateway.open_stream(_request(stream=True))
    chunks = [c async for c in gateway.relay(handle)]
    assert handle.model.id == "scripted/b"
    assert all(c.model == "scripted/b" for c in chunks)
    assert chunks[-1].usage is not None and handle.usage is not None


async def test_a_failed_chain_reports_each_attempt_with_its_provider_and_time():
    provider = ScriptedProvider(P)
    for name in ("a", "b", "big"):
        provider.enqueue(name, *[_err(ServerError, name)] * 2)
    with pytest.raises(AllCandidatesFailed) as info:
        await _gateway(provider).generate(_request())
    attempts = info.value.attempts
    assert [a.model for a in attempts] == ["scripted/a"] * 2 + ["scripted/b"] * 2 + [
        "scripted/big"
    ] * 2
    assert {a.provider for a in attempts} == {P}
    assert info.value.message.startswith("All candidate models failed (scripted/a: ServerError, ")


async def test_attempt_latency_is_measured_in_milliseconds():
    from orchestra.resilience.fallback import FallbackRunner
    from orchestra.resilience.retry import Deadline

    ticks = iter([10.0, 10.25])  # the call starts at 10 s and ends at 10.25 s
    seen: list[float] = []
    breaker = CircuitBreaker(MemoryBreakerBackend(), BreakerPolicy())
    runner = FallbackRunner(
        breaker, on_attempt=lambda c, e, ms: seen.append(ms), clock=lambda: next(ticks)
    )
    plan = Router({P}).plan(_request("scripted/a"), Catalog(MODELS))

    async def call(candidate, budget):
        return "ok"

    outcome = await runner.run(plan, call, Deadline(30))
    assert outcome.value == "ok" and seen == [250.0]
    assert [(a.model, a.provider, a.outcome, a.latency_ms) for a in outcome.attempts] == [
        ("scripted/a", P, "ok", 250.0)
    ]


def _open_chain() -> tuple[list[float], CircuitBreaker, Any]:
    from orchestra.resilience.fallback import FallbackRunner

    now = [0.0]

    async def sleep(seconds: float) -> None:
        now[0] += seconds

    breaker = CircuitBreaker(
        MemoryBreakerBackend(),
        BreakerPolicy(failure_threshold=1, cooldown_s=5),
        clock=lambda: now[0],
    )
    runner = FallbackRunner(breaker, sleep=sleep, clock=lambda: now[0])
    return now, breaker, runner


async def test_with_every_breaker_open_the_soonest_is_probed_when_its_cooldown_ends():
    from orchestra.resilience.retry import Deadline

    now, breaker, runner = _open_chain()
    await breaker.record_failure("scripted/a")  # may be retried at 5
    now[0] = 1.0
    await breaker.record_failure("scripted/b")  # at 6
    plan = Router({P}).plan(_request("scripted/b", fallbacks=["scripted/a"]), Catalog(MODELS))
    called: list[str] = []

    async def call(candidate, budget):
        called.append(candidate.model.id)
        return "ok"

    outcome = await runner.run(plan, call, Deadline(30, clock=lambda: now[0]))
    assert outcome.value == "ok" and outcome.candidate.model.id == "scripted/a"
    assert called == ["scripted/a"] and now[0] == 5.0
    assert [a.outcome for a in outcome.attempts] == [
        "skipped:breaker_open",
        "skipped:breaker_open",
        "ok",
    ]
    assert breaker.view("scripted/a").state == "closed"  # the probe closed it


async def test_a_failed_probe_reopens_the_breaker_for_a_full_cooldown():
    from orchestra.resilience.retry import Deadline

    now, breaker, runner = _open_chain()
    await breaker.record_failure("scripted/a")
    plan = Router({P}).plan(_request("scripted/a"), Catalog(MODELS))

    async def call(candidate, budget):
        raise _err(ServerError, "scripted/a")

    with pytest.raises(AllCandidatesFailed) as caught:
        await runner.run(plan, call, Deadline(30, clock=lambda: now[0]))
    assert [a.outcome for a in caught.value.attempts] == ["skipped:breaker_open", "ServerError"]
    view = breaker.view("scripted/a")
    assert view.state == "open" and view.retry_at == 10.0


async def test_an_adapter_bug_is_reported_as_a_malformed_answer_of_that_model():
    from orchestra.errors import MalformedResponse

    class Broken(ScriptedProvider):
        async def complete(self, request, model, options):  # type: ignore[override]
            raise RuntimeError("bug with a secret inside")

    with pytest.raises(AllCandidatesFailed) as caught:
        await _gateway(Broken(P), attempts=1).generate(_request("scripted/a"))
    last = caught.value.last
    assert isinstance(last, MalformedResponse)
    assert (last.model, last.provider) == ("scripted/a", P)
    assert last.message == "unexpected failure calling scripted/a"


# --- first-token budgets and deployments of one model (generate's runner options) ---------


def _runner_parts(sleeps: list[float]) -> tuple[Any, Any]:
    from orchestra.resilience.fallback import FallbackRunner

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)

    breaker = CircuitBreaker(MemoryBreakerBackend(), BreakerPolicy())
    policy = RetryPolicy(attempts_per_model=2, base_delay_s=0.5, rng=random.Random(1))
    return FallbackRunner(breaker, policy, sleep=sleep), breaker


def _fast_budgets(stats: Any) -> Any:
    from orchestra.resilience.budgets import AttemptBudgets, BudgetKnobs

    return AttemptBudgets(BudgetKnobs(multiplier=3.0, floor_s=0.2, ceiling_s=1.0), stats)


def _chain(*names: str, group: str = "") -> Any:
    from orchestra.routing.router import Candidate, RoutePlan

    fast = {m.id: m.model_copy(update={"latency_ms": 10.0}) for m in MODELS}
    candidates = [Candidate(fast[f"{P}/{n}"], 1.0, {}, group=group) for n in names]
    return RoutePlan("balanced", None, 10, candidates)


async def test_first_token_budget_cuts_a_hung_attempt_and_moves_on():
    import asyncio
    import time

    from orchestra.resilience.deployment_stats import DeploymentStats
    from orchestra.resilience.retry import Deadline

    # Given a first deployment that never sends a first chunk, under a 0.2 s budget
    runner, _ = _runner_parts([])
    stats = DeploymentStats()
    seen: list[tuple[str, float]] = []

    async def call(candidate, budget):
        seen.append((candidate.model.id, budget))
        if candidate.model.id == f"{P}/a":
            await asyncio.sleep(30)
        return candidate.model.id

    started = time.perf_counter()
    budgets = _fast_budgets(stats)
    plan = _chain("a", "b")
    outcome = await runner.run(
        plan, call, Deadline(20.0), budgets=budgets, stats=stats, streamed=True
    )
    # Then a costs its budget (twice: it is retried once), not the deadline, and b answers
    assert outcome.value == f"{P}/b"
    assert time.perf_counter() - started < 2.0
    a_tries = [a for a in outcome.attempts if a.model == f"{P}/a"]
    assert len(a_tries) == 2 and all(a.outcome.startswith("ProviderTimeout") for a in a_tries)
    assert all(a.latency_ms < 1000 for a in a_tries)
    # and the call's own timeout stayed the remaining deadline (a started stream is not cut)
    assert seen[0][1] > 19.0
    # and the timeouts count against a in its stats: two failures, nothing outstanding
    assert stats.error_rate(f"{P}/a") == pytest.approx(2 / 3, abs=0.01)  # a prior success
    assert stats.state(f"{P}/a").outstanding == 0
    assert stats.state(f"{P}/b").outstanding == 1  # the winning stream: its reader finishes it


async def test_the_last_candidate_gets_the_whole_remaining_deadline():
    import asyncio

    from orchestra.resilience.deployment_stats import DeploymentStats
    from orchestra.resilience.retry import Deadline

    # Given one candidate slower than any first-token budget (0.2 s) would allow
    runner, _ = _runner_parts([])
    stats = DeploymentStats()

    async def call(candidate, budget):
        await asyncio.sleep(0.5)
        return "late but fine"

    budgets = _fast_budgets(stats)
    outcome = await runner.run(_chain("a"), call, Deadline(20.0), budgets=budgets, streamed=True)
    # Then it is not cut: nothing else could answer
    assert outcome.value == "late but fine"
    assert [a.outcome for a in outcome.attempts] == ["ok"]


async def test_a_retryable_failure_moves_to_the_same_models_next_deployment_at_once():
    from orchestra.resilience.retry import Deadline

    # Given two deployments of one model, the first answering 500
    sleeps: list[float] = []
    runner, _ = _runner_parts(sleeps)
    called: list[str] = []

    async def call(candidate, budget):
        called.append(candidate.model.id)
        if candidate.model.id == f"{P}/a":
            raise _err(ServerError, f"{P}/a")
        return "ok"

    outcome = await runner.run(_chain("a", "b", group="m"), call, Deadline(20.0))
    # Then the second deployment is called next, without a backoff or a same-deployment retry
    assert outcome.value == "ok"
    assert called == [f"{P}/a", f"{P}/b"] and sleeps == []


async def test_without_another_deployment_the_same_model_is_retried_after_a_backoff():
    from orchestra.resilience.retry import Deadline

    sleeps: list[float] = []
    runner, _ = _runner_parts(sleeps)
    called: list[str] = []

    async def call(candidate, budget):
        called.append(candidate.model.id)
        if len(called) == 1:
            raise _err(ServerError, f"{P}/a")
        return "ok"

    await runner.run(_chain("a", "b"), call, Deadline(20.0))  # no group: today's rule
    assert called == [f"{P}/a", f"{P}/a"] and len(sleeps) == 1
