"""Run a call down a ranked chain: breaker gate, retries, fallback, last-resort probe;
and, for generate, first-token budgets and one hedge.

Decisions are made on the typed error fields alone: ``retryable`` (same model again after
a backoff), ``fallback`` (the next model may do better), ``retry_after`` (the wait a server
asked for). A client error (``fallback == False``) is raised at once: no other model would
answer a malformed request differently. A retryable failure with another deployment of the
same model next in the chain moves on at once: that deployment is the better retry.

With ``budgets`` (:class:`~orchestra.resilience.budgets.AttemptBudgets`), each attempt but
the chain's last may take only its first-token budget until ``call`` returns (a stream's
first chunk, a buffered call's answer); the call's own timeout stays the request's
remaining time, so a stream that has started is not cut. With ``hedge`` (a
:class:`~orchestra.resilience.hedging.HedgeGate`), an attempt slower than its deployment's
hedge delay gets the next candidate started beside it; the first success wins, the other
is cancelled (its connection closed) or, if it answered too, released.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from orchestra.errors import (
    AllCandidatesFailed,
    ContextLengthExceeded,
    PolicyRefusal,
    ProviderError,
)
from orchestra.resilience.attempts import (
    HEDGE_LOST,
    NO_HEDGE,
    Attempt,
    AttemptBook,
    AttemptHook,
    Flight,
    HedgeReport,
    Outcome,
    Release,
    RunState,
    call_within,
    counts_against_model,
    limits,
)
from orchestra.resilience.breaker import CircuitBreaker, Permit
from orchestra.resilience.budgets import AttemptBudgets
from orchestra.resilience.deployment_stats import DeploymentStats
from orchestra.resilience.hedge_race import HedgeRace
from orchestra.resilience.hedging import HedgeGate
from orchestra.resilience.retry import Deadline, RetryPolicy
from orchestra.routing.router import Candidate, RoutePlan

__all__ = [
    "HEDGE_LOST",
    "NO_HEDGE",
    "Attempt",
    "AttemptHook",
    "Call",
    "FallbackRunner",
    "HedgeReport",
    "Outcome",
    "counts_against_model",
]

T = TypeVar("T")
log = logging.getLogger("orchestra.fallback")

Call = Callable[[Candidate, float], Awaitable[T]]


class FallbackRunner:
    def __init__(
        self,
        breaker: CircuitBreaker,
        retry: RetryPolicy | None = None,
        *,
        on_attempt: AttemptHook | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.breaker = breaker
        self.retry = retry or RetryPolicy()
        self.book = AttemptBook(breaker, on_attempt, clock)
        self.race = HedgeRace(breaker, self.book, self.retry.attempt_share)
        self._sleep = sleep
        self._clock = clock

    @property
    def on_attempt(self) -> AttemptHook | None:
        return self.book.on_attempt

    @on_attempt.setter
    def on_attempt(self, hook: AttemptHook | None) -> None:
        self.book.on_attempt = hook

    async def run(
        self,
        plan: RoutePlan,
        call: Call[T],
        deadline: Deadline,
        *,
        budgets: AttemptBudgets | None = None,
        hedge: HedgeGate | None = None,
        stats: DeploymentStats | None = None,
        streamed: bool = False,
        output_tokens: int = 0,
        release: Release | None = None,
    ) -> Outcome[T]:
        """The first answer down ``plan``'s chain. ``streamed``: ``call`` returns at a stream's
        first chunk (its reader calls ``stats.finished``); ``output_tokens``: the limit or 0."""
        run = RunState(deadline, plan.prompt_tokens, budgets, hedge, stats, streamed, output_tokens)
        run.release = release
        min_window = 0
        chain = plan.candidates
        for position, candidate in enumerate(chain):
            if deadline.expired():
                break
            if candidate in run.aside:
                continue  # tried already, beside the one before it (a hedge)
            if candidate.model.context_window <= min_window:
                self.book.skip(run, candidate, "smaller_context_window")
                continue
            permit = await self.breaker.acquire(candidate.model.id)
            if permit is None:
                self.book.skip(run, candidate, "breaker_open")
                run.held.append(candidate)
                continue
            found = await self._try(run, candidate, permit, call, chain[position + 1 :])
            if found is not None:
                return Outcome(found[0], found[1], run.attempts, run.hedge)
            if isinstance(run.last, ContextLengthExceeded):
                min_window = candidate.model.context_window
        if run.calls == 0 and run.held:
            found = await self._last_resort(run, call)
            if found is not None:
                return Outcome(found[0], found[1], run.attempts, run.hedge)
        raise AllCandidatesFailed(_failure_message(run), attempts=run.attempts, last=run.last)

    async def _try(
        self,
        run: RunState,
        candidate: Candidate,
        permit: Permit,
        call: Call[T],
        rest: Sequence[Candidate],
    ) -> tuple[T, Candidate] | None:
        """``candidate`` with its retries (and perhaps a hedge on ``rest[0]``)."""
        model_id = candidate.model.id
        for retry_index in range(self.retry.attempts_per_model):
            if run.deadline.remaining() <= 0:
                return None
            partner = self._partner(run, candidate, rest)
            flight = Flight(candidate, permit, 0.0)
            if partner is not None:
                raced = await self._hedged(run, flight, rest, call)
                if run.hedge.started:  # a hedge ran: its result is final for both
                    return raced if not isinstance(raced, ProviderError) else None
                result = raced
            else:
                result = await self._attempt(run, flight, call, last=not rest)
            if not isinstance(result, ProviderError):
                return result
            if not result.fallback:
                raise result
            if permit.probe or not self.breaker.available(model_id):
                return None
            if result.retryable and _group_ahead(candidate, rest):
                return None  # the same model's next deployment is the better retry: go now
            delay = self.retry.delay_before_retry(result, retry_index, run.deadline)
            if delay is None:
                return None
            await self._sleep(delay)
        return None

    def _partner(
        self, run: RunState, candidate: Candidate, rest: Sequence[Candidate]
    ) -> Candidate | None:
        """The candidate a hedge would start, if this attempt may be hedged at all."""
        gate = run.gate
        if gate is None or run.budgets is None or run.hedge.started or not rest:
            return None
        partner = rest[0]
        if not gate.may_hedge(candidate.model) or not self.breaker.available(partner.model.id):
            return None
        return partner

    async def _attempt(
        self, run: RunState, flight: Flight, call: Call[T], *, last: bool
    ) -> tuple[T, Candidate] | ProviderError:
        """One call, settled: its attempt, breaker and stats recorded."""
        budget, first_token = limits(run, flight.candidate, last, self.retry.attempt_share)
        self.book.launch(run, flight)
        try:
            value = await call_within(flight.candidate, call, budget, first_token)
        except ProviderError as error:
            return await self.book.settle(run, flight, error)
        except (asyncio.CancelledError, PolicyRefusal):  # neither says anything of the model
            self.book.abandoned(run, flight)
            raise
        return await self.book.settle(run, flight, (value,))

    async def _hedged(
        self, run: RunState, flight: Flight, rest: Sequence[Candidate], call: Call[T]
    ) -> tuple[T, Candidate] | ProviderError:
        """``flight`` raced by ``rest[0]`` after its hedge delay (a failed hedge replaced by
        the next of ``rest``), unless its own first-token budget (or the call's timeout)
        ends first: then it is a plain attempt."""
        assert run.budgets is not None
        candidate = flight.candidate
        delay = run.budgets.hedge_delay(candidate.model, streamed=run.streamed)
        budget, first_token = limits(run, candidate, False, self.retry.attempt_share)
        if delay >= (first_token if first_token is not None else budget):
            return await self._attempt(run, flight, call, last=False)
        return await self.race.run(
            run, flight, rest, call, delay=delay, limits_of_first=(budget, first_token)
        )

    async def _last_resort(self, run: RunState, call: Call[T]) -> tuple[T, Candidate] | None:
        """Every breaker open: wait for the soonest cooldown if it ends within the deadline."""
        by_id = {c.model.id: c for c in run.held}
        soonest = self.breaker.soonest_retry(list(by_id))
        if soonest is None:
            return None
        model_id, retry_at = soonest
        wait = max(retry_at - self.breaker.now(), 0.0)
        if wait + self.retry.min_call_budget_s > run.deadline.remaining():
            return None
        await self._sleep(wait)
        permit = await self.breaker.acquire(model_id)
        if permit is None:
            return None
        return await self._try(run, by_id[model_id], permit, call, ())


def _group_ahead(candidate: Candidate, rest: Sequence[Candidate]) -> bool:
    """Whether another deployment of ``candidate``'s model is still ahead in the chain."""
    group = candidate.group
    return bool(group) and any(c.group == group for c in rest)


def _failure_message(run: RunState) -> str:
    tried = ", ".join(f"{a.model}: {a.outcome}" for a in run.attempts) or "none"
    if run.calls == 0 and run.held:
        return f"Every candidate model is temporarily unavailable (circuit open): {tried}"
    return f"All candidate models failed ({tried})"
