"""The results file: resume continues exactly, a torn last line is dropped, another run's
directory is refused."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from orchestra.evaluation.records import Grade, Item, Manifest, Outcome, Result
from orchestra.evaluation.results import ResultsError, ResultsFile
from orchestra.evaluation.runner import EvalRun, Progress


@dataclass(frozen=True)
class Strat:
    spec: str
    models: tuple[str, ...] = ("m",)


class Echo:
    """Answers every item with its gold answer; counts calls per pair."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    async def run(self, strategy: Strat, item: Item) -> Outcome:
        self.calls.append((strategy.spec, item.id))
        await asyncio.sleep(0)
        return Outcome(answer=item.answer, cost_usd=0.01, calls=1)


class Exact:
    async def grade(self, item: Item, outcome: Outcome, graded_models: Sequence[str]) -> Grade:
        ok = outcome.answer == item.answer
        return Grade(correct=ok, score=float(ok), extracted=outcome.answer)


ITEMS = [Item(id=f"q{i}", kind="exact", question=f"{i}+1?", answer=str(i + 1)) for i in range(6)]
STRATS = [Strat("a"), Strat("b"), Strat("c")]


def manifest(**changes: object) -> Manifest:
    base = Manifest(dataset="toy", fingerprint="f" * 16, seed=0, created_at=1.0)
    return base.model_copy(update=changes)


def result(item: str, answer: str = "1", strategy: str = "a") -> Result:
    outcome = Outcome(answer=answer)
    return Result(strategy=strategy, item=item, outcome=outcome, grade=None, at=1.0)


def lines(out: Path) -> list[dict[str, object]]:
    return [json.loads(x) for x in (out / "results.jsonl").read_text().splitlines()]


async def run_until(out: Path, executor: Echo, stop_after: int | None) -> None:
    """A run over STRATS x ITEMS; with ``stop_after`` it is cancelled (Ctrl-C) once that
    many pairs are on disk, others still in flight."""
    with ResultsFile(out) as results:
        results.open(manifest())
        written = asyncio.Event()

        def tick(progress: Progress) -> None:
            if stop_after is not None and progress.done >= stop_after:
                written.set()

        run = EvalRun(executor, Exact(), results, STRATS, ITEMS, concurrency=3, on_progress=tick)
        task = asyncio.create_task(run.run())
        if stop_after is None:
            await task
            return
        await written.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


async def test_a_rerun_asks_exactly_the_missing_pairs(tmp_path: Path) -> None:
    # Given a run interrupted after 7 of its 18 pairs were written
    first, second = Echo(), Echo()
    await run_until(tmp_path / "r", first, stop_after=7)
    kept = {(x["strategy"], x["item"]) for x in lines(tmp_path / "r")}
    assert len(kept) == len(lines(tmp_path / "r")) >= 7
    # When it is run again
    await run_until(tmp_path / "r", second, stop_after=None)
    # Then the rerun asked only the pairs not on disk, each once
    every = {(s.spec, i.id) for s in STRATS for i in ITEMS}
    assert sorted(second.calls) == sorted(every - kept)
    assert len(second.calls) == len(set(second.calls))
    # And the file equals an uninterrupted run's, order aside, with no duplicates
    await run_until(tmp_path / "clean", Echo(), stop_after=None)

    def content(out: Path) -> list[tuple[object, ...]]:
        return sorted((x["strategy"], x["item"], json.dumps(x["grade"])) for x in lines(out))

    assert content(tmp_path / "r") == content(tmp_path / "clean")
    assert len(lines(tmp_path / "r")) == 18


async def test_a_finished_run_asks_nothing_more(tmp_path: Path) -> None:
    await run_until(tmp_path, Echo(), stop_after=None)
    again = Echo()
    await run_until(tmp_path, again, stop_after=None)
    assert again.calls == []
    assert len(lines(tmp_path)) == 18


def test_a_torn_last_line_is_dropped_and_cut_before_appending(tmp_path: Path) -> None:
    # Given a file whose last line was torn by a crash
    with ResultsFile(tmp_path) as results:
        results.open(manifest())
        results.append(result("q1"))
        results.append(result("q2"))
    path = tmp_path / "results.jsonl"
    path.write_bytes(path.read_bytes() + b'{"strategy": "a", "item": "q3", "outc')
    # When it is opened again and a line appended
    with ResultsFile(tmp_path) as results:
        loaded = results.open(manifest())
        results.append(result("q3"))
    # Then the torn line is gone and every line is whole
    assert set(loaded) == {("a", "q1"), ("a", "q2")}
    assert [x["item"] for x in lines(tmp_path)] == ["q1", "q2", "q3"]


def test_the_last_line_of_a_pair_wins(tmp_path: Path) -> None:
    with ResultsFile(tmp_path) as results:
        results.open(manifest())
        results.append(result("q1", answer="wrong"))
        results.append(result("q1", answer="right"))
        assert results.load()[("a", "q1")].outcome.answer == "right"


@pytest.mark.parametrize(
    ("change", "named"),
    [({"fingerprint": "0" * 16}, "fingerprint"), ({"seed": 3}, "seed")],
)
def test_another_runs_directory_is_refused(
    tmp_path: Path, change: dict[str, object], named: str
) -> None:
    with ResultsFile(tmp_path) as results:
        results.open(manifest())
        results.append(result("q1"))
    with pytest.raises(ResultsError, match=f"{named}.*--fresh"), ResultsFile(tmp_path) as again:
        again.open(manifest(**change))
    # --fresh discards it and starts over
    with ResultsFile(tmp_path) as again:
        assert again.open(manifest(**change), fresh=True) == {}
        assert again.manifest() == manifest(**change)


def test_a_corrupt_middle_line_is_an_error_naming_it(tmp_path: Path) -> None:
    with ResultsFile(tmp_path) as results:
        results.open(manifest())
    (tmp_path / "results.jsonl").write_text('{"nope": 1}\n' + result("q1").model_dump_json() + "\n")
    with pytest.raises(ResultsError, match=r"results.jsonl:1"):
        ResultsFile(tmp_path).load()


def _manifest(**changes: object) -> Manifest:
    fields = {"dataset": "d", "fingerprint": "f" * 16, "seed": 0, "created_at": 0.0}
    return Manifest.model_validate({**fields, "max_tokens": 1024, "judge": None, **changes})


@pytest.mark.parametrize(
    ("changes", "said"),
    [({"max_tokens": 512}, "--max-tokens was 1024, now 512"), ({"judge": "j"}, "--judge was None")],
)
def test_a_rerun_under_another_max_tokens_or_judge_is_refused(
    tmp_path: Path, changes: dict[str, object], said: str
) -> None:
    with ResultsFile(tmp_path) as first:
        first.open(_manifest())
    with pytest.raises(ResultsError, match=re.escape(said)):
        ResultsFile(tmp_path).peek(_manifest(**changes))
    with pytest.raises(ResultsError, match="--fresh"):
        ResultsFile(tmp_path).open(_manifest(**changes))


def test_a_manifest_before_version_2_is_continued_whatever_the_max_tokens(
    tmp_path: Path,
) -> None:
    with ResultsFile(tmp_path) as first:
        first.open(_manifest(version=1, max_tokens=None))
    assert ResultsFile(tmp_path).peek(_manifest(max_tokens=64)) == {}


def test_peek_and_a_fresh_peek_write_nothing(tmp_path: Path) -> None:
    with ResultsFile(tmp_path) as first:
        first.open(_manifest())
        first.append(Result(strategy="s", item="i", outcome=Outcome(answer="1"), at=0.0))
    before = sorted((p.name, p.read_bytes()) for p in tmp_path.iterdir())
    assert list(ResultsFile(tmp_path).peek(_manifest())) == [("s", "i")]
    assert ResultsFile(tmp_path).peek(_manifest(seed=9), fresh=True) == {}
    assert sorted((p.name, p.read_bytes()) for p in tmp_path.iterdir()) == before


def test_a_corrupt_line_is_one_line(tmp_path: Path) -> None:
    with ResultsFile(tmp_path) as first:
        first.open(_manifest())
    (tmp_path / "results.jsonl").write_text('{"strategy": 1}\n')
    with pytest.raises(ResultsError) as raised:
        ResultsFile(tmp_path).load()
    assert "\n" not in str(raised.value) and "results.jsonl:1" in str(raised.value)
