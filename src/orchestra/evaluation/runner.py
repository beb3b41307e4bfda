"""The run: every (strategy, item) pair not yet answered, asked by K workers, graded, and
appended to the results file before the progress moves.

Pairs go item-major (every strategy on item 1, then item 2...), so a run stopped early still
compares the strategies on the same items. A pair already answered for good (graded, or failed
for good) is skipped; a retryable failure is asked again; an answer whose grading failed is
graded again without asking the gateway again. The spend cap is checked BEFORE a pair starts:
what was spent (every line already recorded for these pairs included, retried failures too,
so the cap holds across reruns into the same directory), plus the estimates of the pairs in flight, plus this pair's
estimate must stay within ``max_cost``; a pair that does not fit waits for the pairs in flight
(their real cost may leave room), and one that does not fit with none in flight stops the
scheduling ("stopped: --max-cost").
Cancellation (Ctrl-C) only lands at an ``await``; a line is written by one synchronous call,
so the file holds whole lines only: an interrupted pair is simply asked again on the rerun.
``halt`` stops a run that cannot go on (the gateway refused the key, or the key's budget is
spent; a rate limit is waited out by the client instead): no pair starts after
it says why, and a pair that failed meanwhile is not recorded, so the rerun asks it again.

The collaborators are small protocols (the gateway executor, the grader, the results file),
so the run is tested with fakes and composed by the CLI.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from orchestra.errors import OrchestraError
from orchestra.evaluation.records import Grade, Item, Outcome, Result

Key = tuple[str, str]

#: the reason a run stopped before its last pair
STOPPED_MAX_COST = "max-cost"


class StrategyLike(Protocol):
    """What the run needs of a strategy: its key and the models it asks (the judge avoids
    their makers)."""

    @property
    def spec(self) -> str: ...

    @property
    def models(self) -> tuple[str, ...]: ...


S = TypeVar("S", bound=StrategyLike)
S_contra = TypeVar("S_contra", bound=StrategyLike, contravariant=True)


class Executes(Protocol[S_contra]):
    """One item under one strategy; failures come back in ``Outcome.error``."""

    async def run(self, strategy: S_contra, item: Item) -> Outcome: ...


class Grades(Protocol):
    async def grade(self, item: Item, outcome: Outcome, graded_models: Sequence[str]) -> Grade: ...


class Appends(Protocol):
    """The results file, opened: what is there, and one more whole line."""

    def load(self) -> Mapping[Key, Result]: ...

    def append(self, result: Result) -> None: ...

    def spent_including_retries(self, keys: Collection[Key]) -> float: ...


@dataclass(frozen=True)
class Progress:
    """Pairs done (this run and earlier ones) of ``total``; ``spent``: USD spent on these
    pairs, by this run and the earlier ones into the same results file."""

    done: int
    total: int
    correct: int
    graded: int
    errors: int
    spent: float

    @property
    def accuracy(self) -> float | None:
        return self.correct / self.graded if self.graded else None


@dataclass(frozen=True)
class RunReport:
    progress: Progress
    #: None: every pair was asked; ``"max-cost"``: the cap stopped the scheduling; else
    #: the reason ``halt`` gave
    stopped: str | None
    #: pairs asked by this run
    asked: int


def _nothing(progress: Progress) -> None:
    return None


def _free(strategy: object, item: Item) -> float:
    return 0.0


def _never() -> str | None:
    return None


class EvalRun(Generic[S]):
    """One run over ``strategies`` x ``items``; :meth:`run` once."""

    def __init__(
        self,
        executor: Executes[S],
        grader: Grades,
        results_file: Appends,
        strategies: Sequence[S],
        items: Sequence[Item],
        *,
        concurrency: int = 4,
        max_cost: float | None = None,
        pair_cost: Callable[[S, Item], float] = _free,
        on_progress: Callable[[Progress], None] = _nothing,
        halt: Callable[[], str | None] = _never,
    ) -> None:
        if concurrency < 1:
            raise ValueError(f"concurrency must be at least 1 (got {concurrency})")
        self.executor, self.grader, self.results = executor, grader, results_file
        self.strategies, self.items = list(strategies), list(items)
        self.concurrency, self.max_cost = concurrency, max_cost
        self.pair_cost, self.on_progress, self.halt = pair_cost, on_progress, halt
        self.stopped: str | None = None
        self._spent = self._reserved = 0.0
        self._room: asyncio.Condition
        self._flight = 0  # pairs admitted and not finished (floats never count them)
        self._done = self._correct = self._graded = self._errors = self._asked = 0
        #: earlier answers whose grading failed: graded again, not asked again
        self._ungraded: dict[Key, Result] = {}

    @property
    def progress(self) -> Progress:
        total = len(self.strategies) * len(self.items)
        return Progress(self._done, total, self._correct, self._graded, self._errors, self._spent)

    def pending(self) -> list[tuple[S, Item]]:
        """The pairs still to ask, item-major; tallies the ones answered for good."""
        earlier = self.results.load()
        keys = {(s.spec, item.id) for s in self.strategies for item in self.items}
        self._spent += self.results.spent_including_retries(keys)
        todo: list[tuple[S, Item]] = []
        for item in self.items:
            for strategy in self.strategies:
                result = earlier.get((strategy.spec, item.id))
                if result is not None and result.final:
                    self._tally(result)
                    continue
                if result is not None and result.ungraded:
                    self._ungraded[result.key] = result
                todo.append((strategy, item))
        return todo

    async def run(self) -> RunReport:
        pairs = iter(self.pending())  # shared by the workers: next() never awaits
        self._room = asyncio.Condition()
        self.on_progress(self.progress)
        async with asyncio.TaskGroup() as workers:
            for _ in range(self.concurrency):
                workers.create_task(self._work(pairs))
        return RunReport(self.progress, self.stopped, self._asked)

    async def _work(self, pairs: Iterator[tuple[S, Item]]) -> None:
        for strategy, item in pairs:
            if self.stopped is not None or self._halted():
                return
            cost = self.pair_cost(strategy, item)
            if not await self._admit(cost):
                return
            try:
                result = await self._ask(strategy, item)
            finally:
                self._reserved -= cost
                self._flight -= 1
            if result.outcome.error is not None and self._halted():
                async with self._room:  # not recorded: the rerun asks it again
                    self._room.notify_all()
                return
            self.results.append(result)  # on disk before the progress moves
            self._asked += 1
            self._spent += spent_on(result)
            if result.key in self._ungraded:  # its answer was paid for by the earlier run
                self._spent -= self._ungraded[result.key].outcome.cost_usd
            self._tally(result)
            async with self._room:
                self._room.notify_all()
            self.on_progress(self.progress)

    def _halted(self) -> bool:
        """Whether ``halt`` gives a reason to stop (kept in ``stopped`` unless one is there)."""
        reason = self.halt()
        if reason is not None and self.stopped is None:
            self.stopped = reason
        return reason is not None

    async def _admit(self, cost: float) -> bool:
        """Reserve ``cost`` under the cap. While pairs in flight hold the room, wait for them
        (their real cost may leave room); with none in flight, a pair that does not fit stops
        the scheduling."""
        if self.max_cost is None:
            self._reserved += cost
            self._flight += 1
            return True
        async with self._room:
            while self._spent + self._reserved + cost > self.max_cost:
                if self.stopped is not None or self._flight == 0:
                    self.stopped = STOPPED_MAX_COST
                    self._room.notify_all()
                    return False
                await self._room.wait()
            self._reserved += cost
            self._flight += 1
            return True

    async def _ask(self, strategy: S, item: Item) -> Result:
        """The answer (an earlier ungraded one is reused), graded. A grading failure keeps
        the answer ungraded (``grading_error``): never final, never the strategy's error."""
        earlier = self._ungraded.get((strategy.spec, item.id))
        outcome = earlier.outcome if earlier else await self.executor.run(strategy, item)
        grade, failed = None, None
        if outcome.error is None:
            try:
                grade = await self.grader.grade(item, outcome, strategy.models)
            except OrchestraError as exc:  # the judge failed: graded again on the rerun
                failed = f"{exc.status} {exc.code}: {exc.message}"
        return Result(
            strategy=strategy.spec,
            item=item.id,
            outcome=outcome,
            grade=grade,
            at=time.time(),
            grading_error=failed,
        )

    def _tally(self, result: Result) -> None:
        self._done += 1
        if result.grade is not None:
            self._graded += 1
            self._correct += result.grade.correct
        if result.outcome.error is not None or result.ungraded:
            self._errors += 1


def spent_on(result: Result) -> float:
    """USD a result line records: the answer's and its grading's."""
    return result.outcome.cost_usd + (result.grade.cost_usd if result.grade else 0.0)
