"""Hedging: the gate's caps, and the runner's race (first success wins, the other is
cancelled or released, never more than one hedge per request)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from orchestra.caller import set_caller
from orchestra.catalog.models import ModelInfo
from orchestra.errors import ServerError
from orchestra.resilience.breaker import BreakerPolicy, CircuitBreaker
from orchestra.resilience.budgets import AttemptBudgets, BudgetKnobs
from orchestra.resilience.deployment_stats import DeploymentStats
from orchestra.resilience.fallback import HEDGE_LOST, FallbackRunner, Outcome
from orchestra.resilience.hedging import MAX_CALLERS, HedgeGate, worst_case_cost
from orchestra.resilience.retry import Deadline, RetryPolicy
from orchestra.routing.router import Candidate, RoutePlan
from orchestra.storage.memory import MemoryBreakerBackend


def _model(name: str, price: float = 1e-6) -> ModelInfo:
    return ModelInfo(
        id=f"p/{name}",
        context_window=100_000,
        input_price=price,
        output_price=2 * price,
        quality=1300,
        latency_ms=10.0,  # cold hedge delay: max(2 x 10 ms, the 50 ms minimum)
    )


A, B, C, D = (_model(n) for n in "abcd")

# --- the gate --------------------------------------------------------------------------


def _admit(gate: HedgeGate, caller: str = "k1", second: ModelInfo = B, tokens: int = 100) -> bool:
    return gate.admit(A, second, prompt_tokens=tokens, output_tokens=100, caller=caller)


def test_gate_spends_a_per_caller_budget_per_minute():
    now = [0.0]
    gate = HedgeGate(per_minute=2, max_cost_usd=1.0, clock=lambda: now[0])
    assert [_admit(gate), _admit(gate), _admit(gate)] == [True, True, False]
    assert _admit(gate, caller="k2")  # another key has its own budget
    now[0] = 60.0  # the next minute
    assert _admit(gate)


def test_gate_refuses_hedges_costing_more_than_the_cap():
    expensive = _model("x", price=1e-3)
    # 1,000 prompt tokens at $0.001 + 100 output tokens at $0.002: $1.20
    assert worst_case_cost(expensive, 1_000, 100) == pytest.approx(1.2)
    gate = HedgeGate(per_minute=10, max_cost_usd=0.05)
    assert not _admit(gate, second=expensive, tokens=1_000)
    assert _admit(gate, second=B, tokens=1_000)


def test_gate_honours_the_deployment_option_and_the_off_switch():
    gate = HedgeGate(max_cost_usd=1.0, allowed=lambda model_id: model_id != B.id)
    assert not _admit(gate, second=B)  # never to a deployment with hedge: false
    assert _admit(gate, second=C)
    assert not HedgeGate(allowed=lambda model_id: model_id != A.id).may_hedge(A)  # nor from one
    off = HedgeGate(enabled=False, max_cost_usd=1.0)
    assert not off.may_hedge(A) and not _admit(off)


def test_gate_memory_is_bounded_per_minute():
    gate = HedgeGate(per_minute=1, max_cost_usd=1.0, clock=lambda: 0.0)
    for i in range(MAX_CALLERS):
        assert _admit(gate, caller=f"c{i}")
    assert not _admit(gate, caller="one-too-many")


# --- the race --------------------------------------------------------------------------

Behaviour = Callable[[], Awaitable[str]]


class Upstreams:
    """A ``call`` per model: what each does, which were called, cancelled or released."""

    def __init__(self, **behaviours: Behaviour) -> None:
        self.behaviours = behaviours
        self.called: list[str] = []
        self.cancelled: list[str] = []
        self.released: list[Any] = []

    async def call(self, candidate: Candidate, budget: float) -> str:
        name = candidate.model.id.split("/")[1]
        self.called.append(name)
        try:
            return await self.behaviours[name]()
        except asyncio.CancelledError:
            self.cancelled.append(name)
            raise

    async def release(self, value: Any) -> None:
        self.released.append(value)


def answers(value: str, after: float = 0.0) -> Behaviour:
    async def run() -> str:
        await asyncio.sleep(after)
        return value

    return run


def fails(after: float) -> Behaviour:
    async def run() -> str:
        await asyncio.sleep(after)
        raise ServerError("boom", provider="p", model="x")

    return run


def _plan(*models: ModelInfo) -> RoutePlan:
    return RoutePlan("balanced", None, 100, [Candidate(m, 1.0, {}) for m in models])


async def _run(
    upstreams: Upstreams,
    *models: ModelInfo,
    gate: HedgeGate | None = None,
    floor_s: float = 5.0,
    stats: DeploymentStats | None = None,
    streamed: bool = False,
) -> Outcome[str]:
    breaker = CircuitBreaker(MemoryBreakerBackend(), BreakerPolicy())
    runner = FallbackRunner(breaker, RetryPolicy(attempts_per_model=1))
    stats = stats or DeploymentStats()
    knobs = BudgetKnobs(floor_s=floor_s, hedge_min_delay_s=0.05)
    return await runner.run(
        _plan(*models),
        upstreams.call,
        Deadline(20.0),
        budgets=AttemptBudgets(knobs, stats),
        hedge=gate or HedgeGate(max_cost_usd=1.0),
        stats=stats,
        streamed=streamed,
        release=upstreams.release,
    )


async def test_the_hedge_wins_and_the_hung_first_attempt_is_cancelled():
    # Given a first deployment that hangs and a second that answers at once
    upstreams = Upstreams(a=answers("a", after=30.0), b=answers("b"))
    stats = DeploymentStats()
    started = time.perf_counter()
    # When the request runs
    outcome = await _run(upstreams, A, B, stats=stats)
    # Then the hedge answered soon after the 50 ms hedge delay, and the first was cancelled
    assert time.perf_counter() - started < 2.0
    assert (outcome.value, outcome.candidate.model.id) == ("b", B.id)
    assert upstreams.cancelled == ["a"]
    report = outcome.hedge
    assert report.started and report.hedge_won
    assert (report.first, report.winner, report.loser) == (A.id, B.id, A.id)
    assert report.delay_ms == pytest.approx(50.0)
    assert [(a.model, a.outcome) for a in outcome.attempts] == [(B.id, "ok"), (A.id, HEDGE_LOST)]
    # and both deployments are done (nothing outstanding), the winner's time learnt
    assert stats.state(A.id).outstanding == 0 and stats.state(B.id).outstanding == 0
    assert stats.state(B.id).total_s.count == 1 and stats.state(A.id).total_s.count == 0


async def test_the_hedge_loses_when_the_first_attempt_answers_first():
    upstreams = Upstreams(a=answers("a", after=0.15), b=answers("b", after=30.0))
    outcome = await _run(upstreams, A, B)
    assert outcome.value == "a"
    assert upstreams.called == ["a", "b"] and upstreams.cancelled == ["b"]
    report = outcome.hedge
    assert report.started and not report.hedge_won
    assert (report.winner, report.loser) == (A.id, B.id)


async def test_a_loser_that_answered_anyway_is_released():
    # Given a hedge whose call swallows its cancellation and answers (a misbehaving adapter)
    async def stubborn() -> str:
        try:
            await asyncio.sleep(30.0)
        except asyncio.CancelledError:
            return "late b"
        return "b"

    upstreams = Upstreams(a=answers("a", after=0.15), b=stubborn)
    outcome = await _run(upstreams, A, B)
    # Then the winner's answer is returned and the loser's handed to release
    assert outcome.value == "a"
    assert upstreams.released == ["late b"]
    assert (B.id, HEDGE_LOST) in [(a.model, a.outcome) for a in outcome.attempts]


async def test_a_failing_attempt_waits_for_the_other():
    # Given a first attempt that fails after the hedge started, and a slower hedge
    upstreams = Upstreams(a=fails(after=0.1), b=answers("b", after=0.2))
    outcome = await _run(upstreams, A, B, C)
    # Then the hedge's answer is taken; the third candidate is never called
    assert outcome.value == "b" and upstreams.called == ["a", "b"]
    outcomes = [(a.model, a.outcome.split(" ")[0]) for a in outcome.attempts]
    assert outcomes == [(A.id, "ServerError"), (B.id, "ok")]


async def test_a_hedge_that_fails_is_replaced_while_the_first_attempt_is_still_out():
    # Given a first attempt that hangs (a 5 s first-token budget), a hedge that fails at
    # once (a 429, say), and a third candidate that answers
    upstreams = Upstreams(a=answers("a", after=30.0), b=fails(after=0.0), c=answers("c"))
    started = time.perf_counter()
    outcome = await _run(upstreams, A, B, C, D)
    # Then c replaced the failed hedge beside the first: the answer comes well before the
    # first attempt's budget would have ended, the hung first is cancelled, d is never called
    assert time.perf_counter() - started < 1.0
    assert (outcome.value, upstreams.called) == ("c", ["a", "b", "c"])
    assert upstreams.cancelled == ["a"]
    outcomes = [(a.model, a.outcome.split(" ")[0]) for a in outcome.attempts]
    assert outcomes == [(B.id, "ServerError"), (C.id, "ok"), (A.id, HEDGE_LOST)]
    assert (outcome.hedge.winner, outcome.hedge.loser) == (C.id, A.id)


async def test_never_more_than_one_hedge_per_request():
    # Given two hung streams (cut by a 0.35 s first-token budget), then a slow one and a fast one
    upstreams = Upstreams(
        a=answers("a", after=30.0),
        b=answers("b", after=30.0),
        c=answers("c", after=0.2),
        d=answers("d"),
    )
    outcome = await _run(upstreams, A, B, C, D, floor_s=0.3, streamed=True)
    # Then a and b raced and both timed out; c ran alone (no second hedge to d)
    assert outcome.value == "c"
    assert upstreams.called == ["a", "b", "c"]
    assert outcome.hedge.started and outcome.hedge.winner is None
    timeouts = [a.model for a in outcome.attempts if a.outcome.startswith("ProviderTimeout")]
    assert timeouts == [A.id, B.id]


async def test_no_hedge_when_switched_off_or_the_caller_has_spent_its_budget():
    slow_a = {"a": answers("a", after=0.15), "b": answers("b")}
    off = Upstreams(**slow_a)
    outcome = await _run(off, A, B, gate=HedgeGate(enabled=False))
    assert outcome.value == "a" and off.called == ["a"] and not outcome.hedge.started

    gate = HedgeGate(per_minute=1, max_cost_usd=1.0)
    set_caller("Bearer key-one")
    first = await _run(Upstreams(**slow_a), A, B, gate=gate)
    second_upstreams = Upstreams(**slow_a)
    second = await _run(second_upstreams, A, B, gate=gate)
    assert first.hedge.started and not second.hedge.started
    assert second_upstreams.called == ["a"]
    set_caller("Bearer key-two")  # another key: its own budget
    assert (await _run(Upstreams(**slow_a), A, B, gate=gate)).hedge.started


async def test_no_hedge_above_the_cost_cap():
    upstreams = Upstreams(a=answers("a", after=0.15), b=answers("b"))
    outcome = await _run(upstreams, A, B, gate=HedgeGate(max_cost_usd=1e-9))
    assert outcome.value == "a" and upstreams.called == ["a"]


async def test_a_first_attempt_ignoring_its_cancellation_is_released_when_the_hedge_wins():
    # Given a first attempt that swallows its cancellation and answers (a misbehaving adapter)
    async def stubborn() -> str:
        try:
            await asyncio.sleep(30.0)
        except asyncio.CancelledError:
            return "late a"
        return "a"

    upstreams = Upstreams(a=stubborn, b=answers("b", after=0.1))
    outcome = await _run(upstreams, A, B)
    # Then the hedge's answer wins and the first attempt's late answer is released
    assert outcome.value == "b" and outcome.hedge.hedge_won
    assert upstreams.released == ["late a"]
    assert asyncio.current_task().cancelling() == 0  # type: ignore[union-attr]


async def test_cancelling_the_request_cancels_both_attempts():
    # Given a request whose first attempt and hedge both hang
    upstreams = Upstreams(a=answers("a", after=30.0), b=answers("b", after=30.0))
    stats = DeploymentStats()
    request = asyncio.create_task(_run(upstreams, A, B, stats=stats))
    await asyncio.sleep(0.2)  # past the 50 ms hedge delay: both in flight
    assert upstreams.called == ["a", "b"]
    # When the client goes away
    request.cancel()
    with pytest.raises(asyncio.CancelledError):
        await request
    await asyncio.sleep(0.01)
    # Then neither attempt is left running, and neither deployment counts a call in flight
    assert sorted(upstreams.cancelled) == ["a", "b"]
    assert stats.state(A.id).outstanding == 0 and stats.state(B.id).outstanding == 0
