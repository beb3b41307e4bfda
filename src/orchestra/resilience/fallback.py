"""Run a call down a ranked chain: breaker gate, retries, fallback, last-resort probe.

Decisions are made on the typed error fields alone: ``retryable`` (same model again after
a backoff), ``fallback`` (the next model may do better), ``retry_after`` (the wait a server
asked for). A client error (``fallback == False``) is raised at once: no other model would
answer a malformed request differently.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from orchestra.errors import (
    AllCandidatesFailed,
    ContextLengthExceeded,
    MalformedResponse,
    ProviderError,
)
from orchestra.resilience.breaker import CircuitBreaker, Permit
from orchestra.resilience.retry import Deadline, RetryPolicy
from orchestra.routing.router import Candidate, RoutePlan

T = TypeVar("T")
log = logging.getLogger("orchestra.fallback")

Call = Callable[[Candidate, float], Awaitable[T]]
AttemptHook = Callable[[Candidate, ProviderError | None, float], None]


@dataclass(frozen=True)
class Attempt:
    """One try of one model, as reported to the client."""

    model: str
    provider: str
    outcome: str  # "ok", an error summary, or "skipped: <reason>"
    latency_ms: float

    def header_value(self) -> str:
        return f"{self.model}={self.outcome}({self.latency_ms:.0f}ms)"


def counts_against_model(error: ProviderError) -> bool:
    """Failures that say something about the model's health (not about the request)."""
    return error.retryable or (error.fallback and not isinstance(error, ContextLengthExceeded))


@dataclass
class Outcome(Generic[T]):
    value: T
    candidate: Candidate
    attempts: list[Attempt] = field(default_factory=list)


@dataclass
class _Run:
    deadline: Deadline
    attempts: list[Attempt] = field(default_factory=list)
    last: ProviderError | None = None
    held: list[Candidate] = field(default_factory=list)
    calls: int = 0


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
        self.on_attempt = on_attempt
        self._sleep = sleep
        self._clock = clock

    async def run(self, plan: RoutePlan, call: Call[T], deadline: Deadline) -> Outcome[T]:
        run = _Run(deadline)
        min_window = 0
        for position, candidate in enumerate(plan.candidates):
            if deadline.expired():
                break
            if candidate.model.context_window <= min_window:
                self._skip(run, candidate, "smaller_context_window")
                continue
            permit = await self.breaker.acquire(candidate.model.id)
            if permit is None:
                self._skip(run, candidate, "breaker_open")
                run.held.append(candidate)
                continue
            last_in_chain = position == len(plan.candidates) - 1
            value = await self._try(run, candidate, permit, call, last_in_chain)
            if value is not None:
                return Outcome(value[0], candidate, run.attempts)
            if isinstance(run.last, ContextLengthExceeded):
                min_window = candidate.model.context_window
        if run.calls == 0 and run.held:
            value_c = await self._last_resort(run, call)
            if value_c is not None:
                return Outcome(value_c[0], value_c[1], run.attempts)
        raise AllCandidatesFailed(_failure_message(run), attempts=run.attempts, last=run.last)

    def _skip(self, run: _Run, candidate: Candidate, reason: str) -> None:
        model = candidate.model
        run.attempts.append(Attempt(model.id, model.provider, f"skipped:{reason}", 0.0))

    async def _try(
        self, run: _Run, candidate: Candidate, permit: Permit, call: Call[T], last_in_chain: bool
    ) -> tuple[T] | None:
        model_id = candidate.model.id
        for retry_index in range(self.retry.attempts_per_model):
            budget = run.deadline.remaining()
            if budget <= 0:
                return None
            if not last_in_chain:
                budget = max(budget * self.retry.attempt_share, min(budget, 1.0))
            started = self._clock()
            run.calls += 1
            try:
                value = await call(candidate, budget)
            except ProviderError as exc:
                error = exc
            except Exception as exc:  # an adapter bug must not take the whole chain down
                log.exception("unexpected failure calling %s", model_id)
                error = MalformedResponse(
                    f"unexpected failure calling {model_id}",
                    provider=candidate.model.provider,
                    model=model_id,
                )
                error.__cause__ = exc
            else:
                self._record(run, candidate, None, started)
                await self.breaker.record_success(model_id, permit)
                return (value,)
            self._record(run, candidate, error, started)
            run.last = error
            if counts_against_model(error):
                await self.breaker.record_failure(model_id, permit)
            if not error.fallback:
                raise error
            if permit.probe or not self.breaker.view(model_id).available:
                return None
            delay = self.retry.delay_before_retry(error, retry_index, run.deadline)
            if delay is None:
                return None
            await self._sleep(delay)
        return None

    def _record(
        self, run: _Run, candidate: Candidate, error: ProviderError | None, started: float
    ) -> None:
        latency_ms = (self._clock() - started) * 1000.0
        outcome = "ok" if error is None else error.summary()
        model = candidate.model
        run.attempts.append(Attempt(model.id, model.provider, outcome, latency_ms))
        if self.on_attempt is not None:
            self.on_attempt(candidate, error, latency_ms)

    async def _last_resort(self, run: _Run, call: Call[T]) -> tuple[T, Candidate] | None:
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
        candidate = by_id[model_id]
        value = await self._try(run, candidate, permit, call, last_in_chain=True)
        return (value[0], candidate) if value is not None else None


def _failure_message(run: _Run) -> str:
    tried = ", ".join(f"{a.model}: {a.outcome}" for a in run.attempts) or "none"
    if run.calls == 0 and run.held:
        return f"Every candidate model is temporarily unavailable (circuit open): {tried}"
    return f"All candidate models failed ({tried})"
