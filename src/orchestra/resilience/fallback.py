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
from functools import partial
from typing import Any, TypeVar

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


class _Hedge:
    """One attempt's hedge, as its timer, its task and the awaiting request see it."""

    __slots__ = ("abandoned", "delay", "first_done", "flight", "owner", "partner", "task", "won")

    def __init__(self, owner: asyncio.Task[Any], partner: Candidate, delay: float) -> None:
        #: the request's task, awaiting the first attempt
        self.owner = owner
        self.partner = partner
        self.delay = delay
        self.task: asyncio.Task[Any] | None = None
        #: the hedge's attempt, once its breaker let it start
        self.flight: Flight | None = None
        self.first_done = False
        self.won = False
        self.abandoned = False

    def on_done(self, task: asyncio.Task[Any]) -> None:
        """The hedge answered before the first attempt ended: interrupt the first attempt."""
        if self.first_done or task.cancelled() or task.exception() is not None:
            return
        result = task.result()
        if result is not None and not isinstance(result, ProviderError):
            self.won = True
            self.owner.cancel()

    def abandon(self) -> None:
        """The request was cancelled: the hedge goes with it."""
        self.abandoned = True
        if self.task is not None:
            self.task.cancel()


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
        the chain.

        The first attempt is awaited in this task, a timer starts the hedge: an attempt
        that answers before its hedge delay (nearly all) costs one timer, not a task."""
        assert run.budgets is not None
        candidate = flight.candidate
        delay = run.budgets.hedge_delay(candidate.model, streamed=run.streamed)
        budget, first_token = self._budgets(run, candidate, False)
        if delay >= (first_token if first_token is not None else budget):
            return await self._attempt(run, flight, call, last=False)
        owner = asyncio.current_task()
        assert owner is not None
        hedge = _Hedge(owner, partner, delay)
        start = partial(self._start_hedge, run, hedge, flight, call, last)
        timer = asyncio.get_running_loop().call_later(delay, start)
        self.book.launch(run, flight)
        try:
            got = await self._first(candidate, call, budget, first_token, hedge)
        finally:
            hedge.first_done = True
            timer.cancel()
        if hedge.task is None:
            assert got is not None
            return await self.book.settle(run, flight, got)
        return await self._after_first(run, flight, hedge, got)

    async def _first(
        self,
        candidate: Candidate,
        call: Call[T],
        budget: float,
        first_token: float | None,
        hedge: _Hedge,
    ) -> tuple[T] | ProviderError | None:
        """The first attempt's answer or failure; None when the hedge's answer interrupted it."""
        try:
            return (await self._call(candidate, call, budget, first_token),)
        except ProviderError as error:
            return error
        except asyncio.CancelledError:
            if not hedge.won or hedge.owner.uncancel() > 0:  # cancelled from outside
                hedge.abandon()
                raise
            return None

    def _start_hedge(
        self, run: RunState, hedge: _Hedge, first: Flight, call: Call[T], last: bool
    ) -> None:
        """The hedge delay has passed: start ``hedge.partner`` if the gate agrees."""
        assert run.gate is not None
        admitted = run.gate.admit(
            first.candidate.model,
            hedge.partner.model,
            prompt_tokens=run.prompt_tokens,
            output_tokens=run.output_tokens,
            caller=current_caller(),
        )
        if admitted and not hedge.first_done:
            task = asyncio.get_running_loop().create_task(
                self._second(run, hedge, first, call, last)
            )
            task.add_done_callback(hedge.on_done)
            hedge.task = task

    async def _second(
        self, run: RunState, hedge: _Hedge, first: Flight, call: Call[T], last: bool
    ) -> tuple[T] | ProviderError | None:
        """The hedge's attempt (None if ``partner``'s breaker refused it)."""
        partner = hedge.partner
        permit = await self.breaker.acquire(partner.model.id)
        if permit is None or hedge.first_done:
            return None
        flight = hedge.flight = Flight(partner, permit, 0.0)
        run.partner = partner
        run.hedge = HedgeReport(True, hedge.delay * 1000.0, first.candidate.model.id)
        budget, first_token = self._budgets(run, partner, last)
        self.book.launch(run, flight)
        try:
            return (await self._call(partner, call, budget, first_token),)
        except ProviderError as error:
            return error
        except asyncio.CancelledError:
            if hedge.abandoned and run.stats is not None:
                run.stats.finished(partner.model.id)
            raise

    async def _after_first(
        self, run: RunState, flight: Flight, hedge: _Hedge, got: tuple[T] | ProviderError | None
    ) -> tuple[T, Candidate] | ProviderError:
        """Settle both attempts once the first has ended (answered, failed, interrupted)."""
        task = hedge.task
        assert task is not None
        if hedge.won:
            if got is not None:  # it answered anyway, ignoring its cancellation
                hedge.owner.uncancel()
            return await self._hedge_won(run, flight, hedge, task.result(), got)
        assert got is not None
        if not isinstance(got, ProviderError):
            settled = await self.book.settle(run, flight, got)
            await self._cancel(run, hedge, task)
            if hedge.flight is not None:
                run.hedge = replace(run.hedge, winner=flight.candidate.model.id)
                run.hedge = replace(run.hedge, loser=hedge.partner.model.id)
            return settled
        await self.book.settle(run, flight, got)
        if not got.fallback:
            await self._cancel(run, hedge, task)
            return got
        if not task.done():
            await asyncio.wait((task,))
        hedged = task.result()
        if hedged is None or hedge.flight is None:
            return got
        if isinstance(hedged, ProviderError):
            await self.book.settle(run, hedge.flight, hedged)
            return hedged
        return await self._hedge_won(run, flight, hedge, hedged, None, settled_first=True)

    async def _hedge_won(
        self,
        run: RunState,
        flight: Flight,
        hedge: _Hedge,
        hedged: tuple[T] | ProviderError | None,
        got: tuple[T] | ProviderError | None,
        *,
        settled_first: bool = False,
    ) -> tuple[T, Candidate] | ProviderError:
        """The hedge answered: its answer wins; the first attempt (unless already settled
        as failed) is reported lost, its late answer released."""
        assert hedge.flight is not None and isinstance(hedged, tuple)
        settled = await self.book.settle(run, hedge.flight, hedged)
        if not settled_first:
            await self.book.lost(run, flight, got)
        winner, loser = hedge.partner.model.id, flight.candidate.model.id
        run.hedge = replace(run.hedge, winner=winner, loser=loser)
        return settled

    async def _cancel(self, run: RunState, hedge: _Hedge, task: asyncio.Task[Any]) -> None:
        """Cancel the losing hedge and wait until it has let go of its connection."""
        if not task.done():
            task.cancel()
            await asyncio.wait((task,))
        if hedge.flight is not None:
            got = None if task.cancelled() else task.result()
            await self.book.lost(run, hedge.flight, got)

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


def _failure_message(run: RunState) -> str:
    tried = ", ".join(f"{a.model}: {a.outcome}" for a in run.attempts) or "none"
    if run.calls == 0 and run.held:
        return f"Every candidate model is temporarily unavailable (circuit open): {tried}"
    return f"All candidate models failed ({tried})"
