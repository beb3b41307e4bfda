"""One hedged attempt: the first attempt, and a second candidate started beside it when
the first is slower than its hedge delay. The first success wins; the other is cancelled
(its HTTP connection closes) or, if it answered as well, its answer is released. A hedge
that fails while the first attempt is still out is replaced by the next candidate of the
chain (a slow first attempt stays suspect: waiting out its whole budget alone is what
hedging is for). Never more than two attempts in flight; the runner starts at most one
race per request.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from typing import Any, TypeVar

from orchestra.caller import current_caller
from orchestra.errors import PolicyRefusal, ProviderError
from orchestra.resilience.attempts import (
    AttemptBook,
    Flight,
    HedgeReport,
    RunState,
    call_within,
    limits,
)
from orchestra.resilience.breaker import CircuitBreaker
from orchestra.routing.router import Candidate

T = TypeVar("T")
Call = Callable[[Candidate, float], Awaitable[T]]


class _Hedge:
    """One attempt's hedge, as its timer, its task and the awaiting request see it.

    It is also the first attempt's first-token budget (``call_within``'s timer), kept as
    ``asyncio.timeout`` keeps one (the same cancellation and uncancel accounting), except
    that its expiry is scheduled only once the hedge delay, always the shorter, has passed:
    the attempts that answer before it (nearly all) schedule one timer, not two, and make
    no timeout object."""

    __slots__ = (
        "abandoned",
        "cancelling",
        "delay",
        "expires",
        "expiry",
        "first_done",
        "flight",
        "owner",
        "partner",
        "spares",
        "task",
        "timed_out",
        "won",
    )

    def __init__(
        self,
        owner: asyncio.Task[Any],
        rest: Sequence[Candidate],
        delay: float,
        expires: float,
    ) -> None:
        #: the request's task, awaiting the first attempt
        self.owner = owner
        #: the hedge's candidate, and those after it that may replace a failed hedge
        self.partner = rest[0]
        self.spares = list(rest[1:])
        self.delay = delay
        self.task: asyncio.Task[Any] | None = None
        #: the hedge's attempt, once its breaker let it start
        self.flight: Flight | None = None
        self.first_done = False
        self.won = False
        self.abandoned = False
        #: the first attempt's budget: when it ends (loop time), its timer once scheduled,
        #: whether it ran out, the owner's cancellation count on entry
        self.expires = expires
        self.expiry: asyncio.Handle | None = None
        self.timed_out = False
        self.cancelling = 0

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

    # --- the first attempt's first-token budget (as asyncio.Timeout) ----------------------

    def start_budget(self, loop: asyncio.AbstractEventLoop) -> None:
        """The hedge delay has passed: the budget's expiry is due at ``expires``."""
        if self.expires <= loop.time():
            self.expiry = loop.call_soon(self._expire)
        else:
            self.expiry = loop.call_at(self.expires, self._expire)

    def _expire(self) -> None:
        self.owner.cancel()
        self.timed_out = True
        self.expiry = None

    def expired(self) -> bool:
        return self.timed_out

    async def __aenter__(self) -> _Hedge:
        self.cancelling = self.owner.cancelling()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: Any, tb: Any) -> None:
        if self.expiry is not None:
            self.expiry.cancel()
            self.expiry = None
        if (
            self.timed_out
            and self.owner.uncancel() <= self.cancelling
            and exc_type is asyncio.CancelledError
        ):
            raise TimeoutError from exc  # no other cancellation: the budget's own


class HedgeRace:
    """Runs hedged attempts for a :class:`~orchestra.resilience.fallback.FallbackRunner`
    (its breaker, its attempt book, its share of the deadline per attempt)."""

    def __init__(self, breaker: CircuitBreaker, book: AttemptBook, attempt_share: float) -> None:
        self.breaker = breaker
        self.book = book
        self.attempt_share = attempt_share

    async def run(
        self,
        run: RunState,
        flight: Flight,
        rest: Sequence[Candidate],
        call: Call[T],
        *,
        delay: float,
        limits_of_first: tuple[float, float | None],
    ) -> tuple[T, Candidate] | ProviderError:
        """``flight``, and ``rest[0]`` beside it once ``flight`` has run ``delay`` seconds
        without an answer (if the gate and its breaker allow; the next of ``rest`` if that
        one fails first). ``limits_of_first``: ``flight``'s call timeout and first-token
        budget (longer than ``delay``).

        The first attempt is awaited in the request's own task and a timer starts the
        hedge: an attempt that answers before its hedge delay (nearly all) costs one timer,
        not a task. Its budget's expiry is scheduled by that same timer when it fires (the
        hedge delay is the shorter), so the common path schedules no second one."""
        owner = asyncio.current_task()
        assert owner is not None and limits_of_first[1] is not None
        loop = asyncio.get_running_loop()
        hedge = _Hedge(owner, rest, delay, loop.time() + limits_of_first[1])
        timer = loop.call_later(delay, self._start, run, hedge, flight, call)
        self.book.launch(run, flight)
        try:
            got = await self._first(run, flight, call, limits_of_first, hedge)
        finally:
            hedge.first_done = True
            timer.cancel()
        if hedge.task is None:
            assert got is not None
            return await self.book.settle(run, flight, got)
        return await self._after_first(run, flight, hedge, got)

    async def _first(
        self,
        run: RunState,
        flight: Flight,
        call: Call[T],
        limits_of_first: tuple[float, float | None],
        hedge: _Hedge,
    ) -> tuple[T] | ProviderError | None:
        """The first attempt's answer or failure; None when the hedge's answer interrupted it."""
        budget, first_token = limits_of_first
        try:
            return (await call_within(flight.candidate, call, budget, first_token, hedge),)
        except ProviderError as error:
            return error
        except PolicyRefusal:  # refused before the call: the hedge (if any) goes too
            hedge.abandon()
            self.book.abandoned(run, flight)
            raise
        except asyncio.CancelledError:
            if not hedge.won or hedge.owner.uncancel() > 0:  # cancelled from outside
                hedge.abandon()
                self.book.abandoned(run, flight)
                raise
            return None

    def _start(self, run: RunState, hedge: _Hedge, first: Flight, call: Call[T]) -> None:
        """The hedge delay has passed: the first attempt's budget starts counting down, and
        ``hedge.partner`` starts if the gate agrees."""
        assert run.gate is not None
        hedge.start_budget(asyncio.get_running_loop())
        admitted = run.gate.admit(
            first.candidate.model,
            hedge.partner.model,
            prompt_tokens=run.prompt_tokens,
            output_tokens=run.output_tokens,
            caller=current_caller(),
        )
        if admitted and not hedge.first_done:
            task = asyncio.get_running_loop().create_task(self._second(run, hedge, first, call))
            task.add_done_callback(hedge.on_done)
            hedge.task = task

    async def _second(
        self, run: RunState, hedge: _Hedge, first: Flight, call: Call[T]
    ) -> tuple[T] | ProviderError | None:
        """The hedge's attempt (None if ``partner``'s breaker refused it); a hedge that
        fails while the first attempt is still out is settled and replaced by the next
        spare, so a slow first attempt is never left to run out its budget alone."""
        while True:
            got = await self._hedge_attempt(run, hedge, first, call)
            if not (
                isinstance(got, ProviderError)
                and got.fallback
                and hedge.spares
                and not hedge.first_done
                and hedge.flight is not None
            ):
                return got
            await self.book.settle(run, hedge.flight, got)  # its failure, recorded now
            hedge.flight, hedge.partner = None, hedge.spares.pop(0)

    async def _hedge_attempt(
        self, run: RunState, hedge: _Hedge, first: Flight, call: Call[T]
    ) -> tuple[T] | ProviderError | None:
        partner = hedge.partner
        permit = await self.breaker.acquire(partner.model.id)
        if permit is None or hedge.first_done:
            return None
        flight = hedge.flight = Flight(partner, permit, 0.0)
        run.aside.append(partner)
        report = run.hedge
        if not run.hedge.started:
            run.hedge = HedgeReport(True, hedge.delay * 1000.0, first.candidate.model.id)
        last = not hedge.spares  # the chain's last: the whole remaining deadline
        budget, first_token = limits(run, partner, last, self.attempt_share)
        self.book.launch(run, flight)
        try:
            return (await call_within(partner, call, budget, first_token),)
        except ProviderError as error:
            return error
        except PolicyRefusal:  # a budget refused the hedge's call: no hedge, nothing held
            self.book.abandoned(run, flight)
            hedge.flight, run.hedge = None, report
            run.aside.remove(partner)
            return None
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
                winner, loser = flight.candidate.model.id, hedge.partner.model.id
                run.hedge = replace(run.hedge, winner=winner, loser=loser)
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
