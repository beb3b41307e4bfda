"""The run: concurrency, appended-before-progress, whole lines on Ctrl-C, the spend cap
checked before spending, retryable failures asked again, progress figures."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from orchestra.errors import GatewayCallFailed
from orchestra.evaluation.records import Grade, Item, Manifest, Outcome
from orchestra.evaluation.results import ResultsFile
from orchestra.evaluation.runner import STOPPED_MAX_COST, EvalRun, Progress


@dataclass(frozen=True)
class Strat:
    spec: str
    models: tuple[str, ...] = ("m",)


class Canned:
    """Answers from a table (default: the gold answer), after ``delay`` s; records calls and
    the most pairs in flight at once."""

    def __init__(self, answers: dict[tuple[str, str], Outcome] | None = None, delay: float = 0):
        self.answers, self.delay = answers or {}, delay
        self.calls: list[tuple[str, str]] = []
        self.flight = self.most = 0

    async def run(self, strategy: Strat, item: Item) -> Outcome:
        self.calls.append((strategy.spec, item.id))
        self.flight += 1
        self.most = max(self.most, self.flight)
        try:
            await asyncio.sleep(self.delay)
        finally:
            self.flight -= 1
        default = Outcome(answer=item.answer, cost_usd=0.5, calls=1)
        return self.answers.get((strategy.spec, item.id), default)


class Exact:
    def __init__(self, fail: GatewayCallFailed | None = None) -> None:
        self.fail = fail

    async def grade(self, item: Item, outcome: Outcome, graded_models: Sequence[str]) -> Grade:
        if self.fail is not None:
            raise self.fail
        ok = outcome.answer == item.answer
        return Grade(correct=ok, score=float(ok), extracted=outcome.answer, cost_usd=0.25)


ITEMS = [Item(id=f"q{i}", kind="exact", question="?", answer=str(i)) for i in range(4)]
A, B = Strat("a"), Strat("b")


@pytest.fixture
def results(tmp_path: Path) -> ResultsFile:
    opened = ResultsFile(tmp_path)
    opened.open(Manifest(dataset="toy", fingerprint="0" * 16, seed=0, created_at=0.0))
    return opened


def on_disk(results: ResultsFile) -> list[tuple[str, str]]:
    rows = [json.loads(x) for x in results.path.read_text().splitlines()]
    return [(r["strategy"], r["item"]) for r in rows]


async def test_pairs_run_item_major_on_k_workers(results: ResultsFile) -> None:
    executor = Canned(delay=0.01)
    report = await EvalRun(executor, Exact(), results, [A, B], ITEMS, concurrency=3).run()
    assert executor.most == 3
    # item-major: both strategies of q0 are started before q1's
    assert executor.calls[:4] == [("a", "q0"), ("b", "q0"), ("a", "q1"), ("b", "q1")]
    assert report.stopped is None and report.asked == 8
    assert sorted(on_disk(results)) == sorted(executor.calls)


async def test_each_pair_is_on_disk_before_its_progress_tick(results: ResultsFile) -> None:
    seen: list[tuple[int, int]] = []

    def tick(progress: Progress) -> None:
        seen.append((progress.done, len(on_disk(results))))

    await EvalRun(Canned(), Exact(), results, [A], ITEMS, on_progress=tick).run()
    assert seen == [(n, n) for n in range(5)]  # the first tick: nothing done yet


async def test_progress_counts_done_accuracy_and_spend(results: ResultsFile) -> None:
    wrong = {("a", "q1"): Outcome(answer="nope", cost_usd=0.5)}
    failed = {("b", "q2"): Outcome(error="500 boom: down", retryable=False, cost_usd=0.0)}
    ticks: list[Progress] = []
    run = EvalRun(Canned({**wrong, **failed}), Exact(), results, [A, B], ITEMS)
    run.on_progress = ticks.append
    await run.run()
    last = ticks[-1]
    assert (last.done, last.total, last.graded, last.correct, last.errors) == (8, 8, 7, 6, 1)
    assert last.accuracy == pytest.approx(6 / 7)
    # strategy spend (7 x 0.5) and grading spend (7 x 0.25)
    assert last.spent == pytest.approx(7 * 0.75)


async def test_a_cap_below_the_first_pairs_estimate_spends_nothing(results: ResultsFile) -> None:
    executor = Canned()
    run = EvalRun(
        executor, Exact(), results, [A, B], ITEMS, max_cost=0.9, pair_cost=lambda s, i: 1.0
    )
    report = await run.run()
    assert executor.calls == []
    assert report.stopped == STOPPED_MAX_COST and report.progress.spent == 0
    assert on_disk(results) == []


async def test_the_cap_counts_pairs_in_flight(results: ResultsFile) -> None:
    # Given pairs estimated at 1.0 that really cost 0.75 and a cap of 3.5, on 4 workers
    executor = Canned(delay=0.01)
    run = EvalRun(
        executor,
        Exact(),
        results,
        [A, B],
        ITEMS,
        concurrency=4,
        max_cost=3.5,
        pair_cost=lambda s, i: 1.0,
    )
    report = await run.run()
    # Then only 3 start at once (3 x 1.0 reserved), and the cap stops the scheduling later:
    # after 3 pairs spent 2.25, a 4th fits (3.25); the 5th would not (4.0 > 3.5)
    assert executor.most == 3
    assert report.stopped == STOPPED_MAX_COST
    assert len(executor.calls) == 4 and report.progress.spent <= 3.5


async def test_ctrl_c_leaves_whole_lines_and_loses_only_pairs_in_flight(
    results: ResultsFile,
) -> None:
    executor = Canned(delay=0.005)
    two_done = asyncio.Event()
    run = EvalRun(executor, Exact(), results, [A, B], ITEMS, concurrency=2)
    run.on_progress = lambda p: two_done.set() if p.done >= 2 else None
    task = asyncio.create_task(run.run())
    await two_done.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    text = results.path.read_text()
    assert text.endswith("\n")
    assert len(on_disk(results)) >= 2 and len(on_disk(results)) < len(executor.calls) + 1


async def test_retryable_failures_are_asked_again_and_final_ones_are_not(
    results: ResultsFile,
) -> None:
    # Given a first run where q0 failed retryably (429) and q1 failed for good (400)
    failures = {
        ("a", "q0"): Outcome(error="429 rate_limited: slow down", retryable=True),
        ("a", "q1"): Outcome(error="400 invalid_request: no", retryable=False),
    }
    await EvalRun(Canned(failures), Exact(), results, [A], ITEMS).run()
    # When it is run again
    again = Canned()
    report = await EvalRun(again, Exact(), results, [A], ITEMS).run()
    # Then only the retryable failure is asked again, and it now counts as right
    assert again.calls == [("a", "q0")]
    assert results.load()[("a", "q0")].correct
    assert (report.progress.done, report.progress.errors) == (4, 1)


@pytest.mark.parametrize("status", [503, 404])
async def test_a_failed_grading_keeps_the_answer_ungraded_then_regrades_it(
    results: ResultsFile, status: int
) -> None:
    # Given a judge that fails, retryable or not (an unknown judge: 404)
    judge_down = GatewayCallFailed("judge down", status=status, code="x")
    first = await EvalRun(Canned(), Exact(fail=judge_down), results, [A], ITEMS[:1]).run()
    line = results.load()[("a", "q0")]
    # Then the answer is kept, ungraded, not final and not the strategy's error
    assert line.grade is None and line.outcome.error is None and line.ungraded
    assert not line.final and line.grading_error == f"{status} x: judge down"
    assert first.progress.errors == 1
    # When rerun with a working judge
    again = Canned()
    report = await EvalRun(again, Exact(), results, [A], ITEMS[:1]).run()
    # Then it is graded without asking the gateway again, its answer paid for once
    assert again.calls == []
    assert results.load()[("a", "q0")].correct
    assert report.progress.errors == 0 and report.progress.spent == pytest.approx(0.75)


async def test_the_spend_cap_counts_what_earlier_runs_spent_on_these_pairs(
    results: ResultsFile,
) -> None:
    # Given a first run that spent $1.50 (2 pairs at 0.5 + 0.25) on a $2 cap
    capped = {"max_cost": 2.0, "pair_cost": lambda s, i: 0.75}
    first = await EvalRun(Canned(), Exact(), results, [A], ITEMS, **capped).run()
    assert first.asked == 2 and first.stopped == STOPPED_MAX_COST
    # When the same command is run again into the same file
    again = Canned()
    report = await EvalRun(again, Exact(), results, [A], ITEMS, **capped).run()
    # Then the cap holds across the runs: nothing more is asked
    assert again.calls == [] and report.stopped == STOPPED_MAX_COST
    assert report.progress.spent == pytest.approx(1.5)


def test_concurrency_below_one_is_refused(results: ResultsFile) -> None:
    with pytest.raises(ValueError, match="concurrency"):
        EvalRun(Canned(), Exact(), results, [A], ITEMS, concurrency=0)
