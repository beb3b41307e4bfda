"""Every line's spend counts, not only each pair's last: a retryable failure asked again was
paid for each time, so the cap (and the report's total) must include it; an answer graded
again is not paid twice."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from orchestra.evaluation.records import Grade, Item, Manifest, Outcome, Result
from orchestra.evaluation.results import ResultsFile
from orchestra.evaluation.runner import EvalRun


@dataclass(frozen=True)
class Strat:
    spec: str
    models: tuple[str, ...] = ("m",)


class HalfFail:
    """Every pair costs $0.01; every odd call fails retryably."""

    def __init__(self) -> None:
        self.calls = 0

    async def run(self, strategy: Strat, item: Item) -> Outcome:
        self.calls += 1
        if self.calls % 2:
            return Outcome(error="503 overloaded", retryable=True, cost_usd=0.01)
        return Outcome(answer=item.answer, cost_usd=0.01, calls=1)


class Exact:
    async def grade(self, item: Item, outcome: Outcome, graded_models: object) -> Grade:
        return Grade(correct=outcome.answer == item.answer, score=1.0, cost_usd=0.001)


ITEMS = [Item(id=f"q{i}", kind="exact", question="?", answer=str(i)) for i in range(4)]


def line(item: str, outcome: Outcome, grade: Grade | None = None, strategy: str = "a") -> Result:
    return Result(strategy=strategy, item=item, outcome=outcome, grade=grade, at=1.0)


def opened(out: Path) -> ResultsFile:
    results = ResultsFile(out)
    results.open(Manifest(dataset="toy", fingerprint="f" * 16, seed=0, created_at=1.0))
    return results


def test_every_line_of_the_pairs_counts_a_regrade_only_its_grading(tmp_path: Path) -> None:
    # Given a pair failed twice then answered, an answer graded again, and another pair
    results = opened(tmp_path)
    failed = Outcome(error="429 rate_limit_exceeded", retryable=True, cost_usd=0.01)
    answer = Outcome(answer="1", cost_usd=0.02)
    for outcome in (failed, failed, answer):
        results.append(line("q1", outcome))
    results.append(line("q2", answer))  # grading failed: no grade
    results.append(line("q2", answer, Grade(correct=True, score=1.0, cost_usd=0.005)))
    results.append(line("q1", answer, strategy="other"))
    # When the spend of strategy a's pairs is summed
    spent = results.spent_including_retries({("a", "q1"), ("a", "q2")})
    # Then both failures count, q2's answer once plus its grading, the other strategy not
    assert spent == pytest.approx(0.01 + 0.01 + 0.02 + 0.02 + 0.005)
    assert results.spent_including_retries(set()) == 0.0
    results.close()


async def test_the_cap_counts_the_retries_of_earlier_runs(tmp_path: Path) -> None:
    # Given two runs at failure 0.5 into one directory (retried failures paid each time)
    for _ in range(2):
        with opened(tmp_path) as results:
            await EvalRun(HalfFail(), Exact(), results, [Strat("a")], ITEMS).run()
    with opened(tmp_path) as results:
        spent = results.spent_including_retries({("a", i.id) for i in ITEMS})
        last_lines = sum(r.outcome.cost_usd for r in results.load().values())
        # When a third run starts, the cap already counts every line's spend:
        # less than one pair's room left
        run = EvalRun(
            HalfFail(),
            Exact(),
            results,
            [Strat("a")],
            ITEMS,
            max_cost=spent + 0.005,
            pair_cost=lambda s, i: 0.01,
        )
        report = await run.run()
    # Then it counts more than the last lines (the retries), and nothing more is asked
    assert spent > last_lines + 0.015
    assert report.asked == 0 and report.stopped == "max-cost"
