"""What one run down the chain records about each attempt: the attempts reported to the
client, the hedge report, and the bookkeeping every attempt ends with (breaker, deployment
stats, the attempt hook), whichever way it ended: answered, failed, or lost a hedge race.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

from orchestra.errors import (
    ContextLengthExceeded,
    MalformedResponse,
    PolicyRefusal,
    ProviderError,
    ProviderTimeout,
    retry_after_of,
)
from orchestra.resilience.breaker import CircuitBreaker, Permit
from orchestra.resilience.budgets import AttemptBudgets
from orchestra.resilience.deployment_stats import DeploymentStats
from orchestra.resilience.hedging import HedgeGate
from orchestra.resilience.retry import Deadline
from orchestra.routing.router import Candidate

T = TypeVar("T")
log = logging.getLogger("orchestra.fallback")

AttemptHook = Callable[[Candidate, ProviderError | None, float], None]
#: gives back what a losing hedge produced anyway (closes a stream's iterator)
Release = Callable[[Any], Awaitable[None]]
#: the outcome of an attempt that lost a hedge race
HEDGE_LOST = "cancelled:hedge_lost"


@dataclass(frozen=True)
class Attempt:
    """One try of one model, as reported to the client."""

    model: str
    provider: str
    outcome: str  # "ok", an error summary, "skipped:<reason>" or "cancelled:hedge_lost"
    latency_ms: float

    def header_value(self) -> str:
        return f"{self.model}={self.outcome}({self.latency_ms:.0f}ms)"


@dataclass(frozen=True, slots=True)
class HedgeReport:
    """Whether a hedge started, after how long, beside which deployment (``first``), and
    which deployment won and lost (both None when both attempts failed)."""

    started: bool = False
    delay_ms: float = 0.0
    first: str = ""
    winner: str | None = None
    loser: str | None = None

    @property
    def hedge_won(self) -> bool:
        return self.winner is not None and self.winner != self.first

    def header_value(self) -> str:
        """``started;delay_ms=250;winner=<model>;loser=<model>`` (x-orchestra-hedge)."""
        value = f"started;delay_ms={self.delay_ms:.0f}"
        if self.winner is not None:
            value += f";winner={self.winner}"
        if self.loser is not None:
            value += f";loser={self.loser}"
        return value


NO_HEDGE = HedgeReport()


def counts_against_model(error: ProviderError) -> bool:
    """Failures that say something about the model's health (not about the request)."""
    return error.retryable or (error.fallback and not isinstance(error, ContextLengthExceeded))


@dataclass
class Outcome(Generic[T]):
    value: T
    candidate: Candidate
    attempts: list[Attempt] = field(default_factory=list)
    hedge: HedgeReport = NO_HEDGE


@dataclass(slots=True)
class RunState:
    deadline: Deadline
    prompt_tokens: int = 0
    budgets: AttemptBudgets | None = None
    gate: HedgeGate | None = None
    stats: DeploymentStats | None = None
    streamed: bool = False
    output_tokens: int = 0
    release: Release | None = None
    attempts: list[Attempt] = field(default_factory=list)
    last: ProviderError | None = None
    held: list[Candidate] = field(default_factory=list)
    calls: int = 0
    hedge: HedgeReport = NO_HEDGE
    #: the candidates started beside the first attempt: the hedge, and those that replaced
    #: a hedge that failed (already tried when the chain reaches them)
    aside: list[Candidate] = field(default_factory=list)


@dataclass(slots=True)
class Flight:
    """One attempt in flight: what it calls, under which permit, since when."""

    candidate: Candidate
    permit: Permit
    started: float


class AttemptBook:
    """Ends each attempt: its :class:`Attempt`, the breaker, the deployment's stats."""

    def __init__(
        self,
        breaker: CircuitBreaker,
        on_attempt: AttemptHook | None = None,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.breaker = breaker
        self.on_attempt = on_attempt
        self.clock = clock

    def launch(self, run: RunState, flight: Flight) -> None:
        run.calls += 1
        flight.started = self.clock()
        if run.stats is not None:
            run.stats.started(flight.candidate.model.id)

    def abandoned(self, run: RunState, flight: Flight) -> None:
        """The request was cancelled during the attempt (the client left): it is no
        longer in flight, and says nothing about the deployment."""
        if run.stats is not None:
            run.stats.finished(flight.candidate.model.id)

    def skip(self, run: RunState, candidate: Candidate, reason: str) -> None:
        model = candidate.model
        run.attempts.append(Attempt(model.id, model.provider, f"skipped:{reason}", 0.0))

    async def lost(
        self, run: RunState, flight: Flight, got: tuple[T] | ProviderError | None
    ) -> None:
        """Report the loser of a hedge race: cancelled (``got`` None), failed, or answered
        too late (its answer released)."""
        if isinstance(got, ProviderError):
            await self._failed(run, flight, got)
            return
        model = flight.candidate.model
        seconds = self.clock() - flight.started
        run.attempts.append(Attempt(model.id, model.provider, HEDGE_LOST, seconds * 1000.0))
        if got is not None:
            if run.stats is not None:
                run.stats.succeeded(model.id, seconds, streamed=run.streamed)
            await self.breaker.record_success(model.id, flight.permit)
            await self._release(run, got[0])
        if run.stats is not None:
            run.stats.finished(model.id)

    async def _release(self, run: RunState, value: object) -> None:
        if run.release is None:
            return
        try:
            await run.release(value)
        except Exception:  # the answer is not wanted: a failure to close it is only logged
            log.warning("releasing a losing hedge's answer failed", exc_info=True)

    async def settle(
        self, run: RunState, flight: Flight, got: tuple[T] | ProviderError
    ) -> tuple[T, Candidate] | ProviderError:
        if isinstance(got, ProviderError):
            await self._failed(run, flight, got)
            return got
        await self._succeeded(run, flight)
        return got[0], flight.candidate

    async def _succeeded(self, run: RunState, flight: Flight) -> None:
        model_id = flight.candidate.model.id
        seconds = self.clock() - flight.started
        self._record(run, flight.candidate, None, seconds * 1000.0)
        if run.stats is not None:
            run.stats.succeeded(model_id, seconds, streamed=run.streamed)
            if not run.streamed:  # a stream is finished by whoever closes it
                run.stats.finished(model_id)
        await self.breaker.record_success(model_id, flight.permit)

    async def _failed(self, run: RunState, flight: Flight, error: ProviderError) -> None:
        model_id = flight.candidate.model.id
        self._record(run, flight.candidate, error, (self.clock() - flight.started) * 1000.0)
        run.last = error
        counts = counts_against_model(error)
        if run.stats is not None:
            if counts:
                run.stats.failed(model_id, retry_after=retry_after_of(error))
            run.stats.finished(model_id)
        if counts:
            await self.breaker.record_failure(model_id, flight.permit)

    def _record(
        self, run: RunState, candidate: Candidate, error: ProviderError | None, latency_ms: float
    ) -> None:
        outcome = "ok" if error is None else error.summary()
        model = candidate.model
        run.attempts.append(Attempt(model.id, model.provider, outcome, latency_ms))
        if self.on_attempt is not None:
            self.on_attempt(candidate, error, latency_ms)


class FirstTokenTimer(Protocol):
    """What :func:`call_within` needs of a first-token budget: ``asyncio.timeout``'s
    context and ``expired()`` (the hedge race keeps its own, scheduled late)."""

    async def __aenter__(self) -> object: ...

    async def __aexit__(self, exc_type: Any, exc: Any, tb: Any) -> bool | None: ...

    def expired(self) -> bool: ...


def limits(
    run: RunState, candidate: Candidate, last: bool, attempt_share: float
) -> tuple[float, float | None]:
    """(the call's own timeout, its first-token budget or None) for one attempt."""
    remaining = run.deadline.remaining()
    if last:  # nothing else to try: the whole remaining deadline
        return remaining, None
    # never more than a share of what is left: the next candidates need time too
    share = max(remaining * attempt_share, min(remaining, 1.0))
    if run.budgets is None:  # embed, panel: the share bounds the call itself
        return share, None
    first_token = run.budgets.first_token(
        candidate.model,
        streamed=run.streamed,
        prompt_tokens=run.prompt_tokens,
        output_tokens=run.output_tokens,
    )
    return remaining, min(first_token, share)


async def call_within(
    candidate: Candidate,
    call: Callable[[Candidate, float], Awaitable[T]],
    budget: float,
    first_token: float | None,
    timer: FirstTokenTimer | None = None,
) -> T:
    """``call``, within ``first_token`` seconds if given (``timer``: that budget's timeout,
    made by the caller to schedule it later); every failure a ProviderError, but a
    :class:`~orchestra.errors.PolicyRefusal` (a budget or limit refused the call before it
    was made), raised as it is: no breaker counts it, no other model is tried."""
    model = candidate.model
    if timer is None and first_token is not None:
        timer = asyncio.timeout(first_token)
    try:
        if timer is None:
            return await call(candidate, budget)
        async with timer:
            return await call(candidate, budget)
    except (ProviderError, PolicyRefusal):
        raise
    except Exception as exc:
        if timer is not None and timer.expired():
            raise ProviderTimeout(
                f"no first token within {first_token:.3g} s",
                provider=model.provider,
                model=model.id,
            ) from exc
        log.exception("unexpected failure calling %s", model.id)
        raise MalformedResponse(
            f"unexpected failure calling {model.id}", provider=model.provider, model=model.id
        ) from exc
