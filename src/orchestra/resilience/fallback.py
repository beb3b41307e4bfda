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
from dataclasses import replace
from typing import TypeVar

from orchestra.caller import current_caller
from orchestra.errors import (
    AllCandidatesFailed,
    ContextLengthExceeded,
    MalformedResponse,
    ProviderError,
    ProviderTimeout,
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
    counts_against_model,
)
from orchestra.resilience.breaker import CircuitBreaker, Permit
from orchestra.resilience.budgets import AttemptBudgets
from orchestra.resilience.deployment_stats import DeploymentStats
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
        """The first answer down ``plan``'s chain. ``streamed``: ``call`` returns at a
        stream's first chunk (a success then leaves the deployment outstanding in ``stats``
        until the stream's reader calls ``stats.finished``); ``output_tokens``: the
        request's output limit (0: none)."""
        run = RunState(deadline, plan.prompt_tokens, budgets, hedge, stats, streamed, output_tokens)
        run.release = release
        min_window = 0
        chain = plan.candidates
        for position, candidate in enumerate(chain):
            if deadline.expired():
                break
            if candidate is run.partner:
                continue  # tried already, as the hedge of the one before it
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
        group_ahead = bool(candidate.group) and any(c.group == candidate.group for c in rest)
        for retry_index in range(self.retry.attempts_per_model):
            if run.deadline.remaining() <= 0:
                return None
            partner = self._partner(run, candidate, rest)
            flight = Flight(candidate, permit, 0.0)
            if partner is not None:
                raced = await self._hedged(run, flight, partner, call, last=partner is rest[-1])
                if run.hedge.started:  # a hedge ran: its result is final for both
                    return raced if not isinstance(raced, ProviderError) else None
                result = raced
            else:
                result = await self._attempt(run, flight, call, last=not rest)
            if not isinstance(result, ProviderError):
                return result
            if not result.fallback:
                raise result
            if permit.probe or not self.breaker.view(model_id).available:
                return None
            if group_ahead and result.retryable:
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
        if not gate.may_hedge(candidate.model) or not self.breaker.view(partner.model.id).available:
            return None
        return partner

    def _budgets(
        self, run: RunState, candidate: Candidate, last: bool
    ) -> tuple[float, float | None]:
        """(the call's own timeout, its first-token budget or None) for one attempt."""
        remaining = run.deadline.remaining()
        if last:  # nothing else to try: the whole remaining deadline
            return remaining, None
        # never more than a share of what is left: the next candidates need time too
        share = max(remaining * self.retry.attempt_share, min(remaining, 1.0))
        if run.budgets is None:  # embed, panel: the share bounds the call itself
            return share, None
        first_token = run.budgets.first_token(
            candidate.model,
            streamed=run.streamed,
            prompt_tokens=run.prompt_tokens,
            output_tokens=run.output_tokens,
        )
        return remaining, min(first_token, share)

    async def _attempt(
        self, run: RunState, flight: Flight, call: Call[T], *, last: bool
    ) -> tuple[T, Candidate] | ProviderError:
        """One call, settled: its attempt, breaker and stats recorded."""
        budget, first_token = self._budgets(run, flight.candidate, last)
        self.book.launch(run, flight)
        try:
            value = await self._call(flight.candidate, call, budget, first_token)
        except ProviderError as error:
            return await self.book.settle(run, flight, error)
        return await self.book.settle(run, flight, (value,))

    async def _call(
        self, candidate: Candidate, call: Call[T], budget: float, first_token: float | None
    ) -> T:
        """``call``, within ``first_token`` seconds if given; every failure a ProviderError."""
        model = candidate.model
        timer = asyncio.timeout(first_token) if first_token is not None else None
        try:
            if timer is None:
                return await call(candidate, budget)
            async with timer:
                return await call(candidate, budget)
        except ProviderError:
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

    async def _hedged(
        self, run: RunState, flight: Flight, partner: Candidate, call: Call[T], *, last: bool
    ) -> tuple[T, Candidate] | ProviderError:
        """``flight``, and ``partner`` beside it once ``flight`` is slower than its hedge
        delay (when the gate and ``partner``'s breaker allow). ``last``: ``partner`` ends
        the chain."""
        assert run.budgets is not None
        candidate = flight.candidate
        delay = run.budgets.hedge_delay(candidate.model, streamed=run.streamed)
        budget, first_token = self._budgets(run, candidate, False)
        if delay >= (first_token if first_token is not None else budget):
            return await self._attempt(run, flight, call, last=False)
        self.book.launch(run, flight)
        first = asyncio.ensure_future(self._call(candidate, call, budget, first_token))
        try:
            await asyncio.wait((first,), timeout=delay)
            second = None if first.done() else await self._second(run, flight, partner, call, last)
            if second is None:
                return await self.book.settle(run, flight, await _outcome(first))
            run.partner = partner
            run.hedge = HedgeReport(True, delay * 1000.0, candidate.model.id)
            return await self._race(run, {first: flight, second[0]: second[1]})
        finally:
            if not first.done():  # cancelled from outside: leave nothing running
                first.cancel()

    async def _second(
        self, run: RunState, first: Flight, partner: Candidate, call: Call[T], last: bool
    ) -> tuple[asyncio.Future[T], Flight] | None:
        """The hedge, started if the gate and ``partner``'s breaker let it."""
        assert run.gate is not None
        admitted = run.gate.admit(
            first.candidate.model,
            partner.model,
            prompt_tokens=run.prompt_tokens,
            output_tokens=run.output_tokens,
            caller=current_caller(),
        )
        permit = await self.breaker.acquire(partner.model.id) if admitted else None
        if permit is None:
            return None
        flight = Flight(partner, permit, 0.0)
        budget, first_token = self._budgets(run, partner, last)
        self.book.launch(run, flight)
        return asyncio.ensure_future(self._call(partner, call, budget, first_token)), flight

    async def _race(
        self, run: RunState, flights: dict[asyncio.Future[T], Flight]
    ) -> tuple[T, Candidate] | ProviderError:
        """The first success of two attempts in flight; the other cancelled (or, if it
        answered as well, released). Both failed: the last failure."""
        pending: set[asyncio.Future[T]] = set(flights)
        won: tuple[T, Candidate] | None = None
        error: ProviderError | None = None
        try:
            while pending and won is None:
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    got = _result(task)
                    if won is not None:  # both answered at once: the second one lost
                        await self.book.lost(run, flights[task], got)
                        continue
                    settled = await self.book.settle(run, flights[task], got)
                    if isinstance(settled, ProviderError):
                        error = settled
                        if not settled.fallback:
                            raise settled
                    else:
                        won = settled
        finally:
            for task in pending:
                await self._cancel(run, flights[task], task)
        if won is None:
            assert error is not None
            return error
        loser = next(f.candidate for f in flights.values() if f.candidate is not won[1])
        run.hedge = replace(run.hedge, winner=won[1].model.id, loser=loser.model.id)
        return won

    async def _cancel(self, run: RunState, flight: Flight, task: asyncio.Future[T]) -> None:
        """Cancel the losing attempt and wait until it has let go of its connection."""
        task.cancel()
        await asyncio.wait((task,))
        await self.book.lost(run, flight, None if task.cancelled() else _result(task))

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


def _result(task: asyncio.Future[T]) -> tuple[T] | ProviderError:
    """A finished attempt's answer (as a 1-tuple) or its failure (``_call`` raises no other)."""
    error = task.exception()
    if error is None:
        return (task.result(),)
    if isinstance(error, ProviderError):
        return error
    raise error


async def _outcome(task: asyncio.Future[T]) -> tuple[T] | ProviderError:
    if not task.done():
        await asyncio.wait((task,))
    return _result(task)


def _failure_message(run: RunState) -> str:
    tried = ", ".join(f"{a.model}: {a.outcome}" for a in run.attempts) or "none"
    if run.calls == 0 and run.held:
        return f"Every candidate model is temporarily unavailable (circuit open): {tried}"
    return f"All candidate models failed ({tried})"
