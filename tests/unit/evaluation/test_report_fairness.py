"""The report compares like with like: the items every strategy answered, a baseline that
is one model, a threshold corrected for the comparisons made; and it says what would
change its figures (retryable failures, truncated answers, which models a router used)."""

from __future__ import annotations

import json
from pathlib import Path

from orchestra.cli.eval_report import common_items, write_report
from orchestra.evaluation import report, stats
from orchestra.evaluation.records import Dataset, Grade, Item, Manifest, Outcome, Result
from orchestra.evaluation.results import ResultsFile
from orchestra.evaluation.strategies import Strategy

LARGE = Strategy("sim-large", "single", ("sim-large",))
SMALL = Strategy("sim-small", "single", ("sim-small",))
MEDIUM = Strategy("sim-medium", "single", ("sim-medium",))
AUTO = Strategy("auto:fast", "single", ("auto:fast",))
ITEMS = [Item(id=f"i{n}", kind="exact", question="q?", answer="18") for n in range(40)]


def row(spec: str, item: str, correct: bool | None, **outcome: object) -> Result:
    """``correct`` None: the item failed (retryable unless said)."""
    if correct is None:
        outcome.setdefault("error", "429 rate_limit_exceeded: slow down")
        outcome.setdefault("retryable", True)
    grade = None if correct is None else Grade(correct=correct, score=float(correct))
    return Result(strategy=spec, item=item, outcome=Outcome(**outcome), grade=grade, at=0.0)


def dataset(items: list[Item]) -> Dataset:
    return Dataset(name="t", path="/x/t.jsonl", fingerprint="f" * 16, total=40, items=items)


def directory(tmp_path: Path, rows: list[Result]) -> Path:
    manifest = Manifest(dataset="/x/t.jsonl", fingerprint="f" * 16, seed=0, created_at=0.0)
    with ResultsFile(tmp_path) as files:
        files.open(manifest)
        for r in rows:
            files.append(r)
    return tmp_path


def test_a_strategy_added_on_fewer_items_is_compared_on_those_items_only(
    tmp_path: Path,
) -> None:
    # Given sim-large (right on 39 of 40) and sim-medium added later with --limit 10 (right
    # on all 10, as sim-large is on those 10)
    rows = [row(LARGE.spec, f"i{n}", n != 30, cost_usd=0.01) for n in range(40)]
    rows += [row(MEDIUM.spec, f"i{n}", True, cost_usd=0.001) for n in range(10)]
    out = directory(tmp_path, rows)
    # When the report is written at the end of the --limit 10 run and by `eval report`
    write_report(out, dataset(ITEMS[:10]), [MEDIUM.spec])
    after_run = json.loads((out / "summary.json").read_text())
    write_report(out, dataset(ITEMS))
    again = json.loads((out / "summary.json").read_text())
    # Then both cover the 10 items both answered (strategies in the order given), and say
    # 30 more are left out
    by_spec = sorted(after_run.pop("strategies"), key=lambda s: s["spec"])
    assert by_spec == sorted(again.pop("strategies"), key=lambda s: s["spec"])
    assert after_run == again
    again["strategies"] = by_spec
    assert again["items"] == 10
    assert {s["spec"]: s["accuracy"] for s in again["strategies"]} == {
        "sim-medium": 1.0,
        "sim-large": 1.0,
    }
    # the tie goes to the cheaper single: sim-medium is the baseline on equal items
    assert again["baseline"] == "sim-medium"
    text = (out / "report.md").read_text()
    assert "10 answered by every strategy (30 more answered by some strategies are left " in text
    assert "complete them with the same --limit" in text


def test_a_strategy_with_no_result_yet_does_not_empty_the_report() -> None:
    results = {r.key: r for r in [row(LARGE.spec, "i0", True), row(SMALL.spec, "i0", False)]}
    assert common_items(dataset(ITEMS), results) == (["i0"], 0)
    assert common_items(dataset(ITEMS), {}) == ([], 0)


def test_a_routed_strategy_is_never_the_baseline_even_when_most_accurate() -> None:
    rows = [row(AUTO.spec, f"i{n}", True) for n in range(4)]
    rows += [row(SMALL.spec, f"i{n}", n < 2) for n in range(4)]
    summary = report.summarise([AUTO, SMALL], ITEMS[:4], {r.key: r for r in rows})
    assert summary.baseline == "sim-small"
    auto = summary.strategies[0]
    assert auto.paired is not None and (auto.paired.b, auto.paired.c) == (2, 0)


def test_only_routed_strategies_leave_no_baseline_and_say_why() -> None:
    rows = {r.key: r for r in [row(AUTO.spec, "i0", True)]}
    summary = report.summarise([AUTO], ITEMS[:1], rows)
    assert summary.baseline is None and summary.threshold is None
    text = report.markdown(summary, title="t", meta={})
    assert "`auto:*` is routed among models, so it is never the baseline" in text


def test_the_threshold_is_corrected_for_the_comparisons_actually_made() -> None:
    # Given four strategies: one baseline, three compared with it
    specs = [LARGE, SMALL, MEDIUM, AUTO]
    rows = {r.key: r for s in specs for r in [row(s.spec, "i0", s is LARGE)]}
    summary = report.summarise(specs, ITEMS[:1], rows)
    # Then three comparisons were made, at 0.05 / 3
    assert summary.comparisons == 3
    assert summary.threshold is not None and abs(summary.threshold - 0.05 / 3) < 1e-12
    text = report.markdown(summary, title="t", meta={})
    assert "Corrected threshold: p < 0.0167 (0.05 / 3 comparisons made, Bonferroni)" in text
    assert "winner's curse" in text


def test_bonferroni_divides_the_bar_among_the_comparisons() -> None:
    assert stats.bonferroni(0.05, 1) == 0.05
    assert abs(stats.bonferroni(0.05, 4) - 0.0125) < 1e-12


def test_retryable_failures_are_announced_at_the_top() -> None:
    rows = [row(LARGE.spec, "i0", None), row(LARGE.spec, "i1", None), row(LARGE.spec, "i2", True)]
    rows.append(row(SMALL.spec, "i0", None, error="401 invalid key", retryable=False))
    summary = report.summarise([LARGE, SMALL], ITEMS[:3], {r.key: r for r in rows})
    assert summary.strategies[0].retryable == 2 and summary.strategies[1].retryable == 0
    lines = report.markdown(summary, title="t", meta={"dataset": "t"}).splitlines()
    assert lines[2] == (
        "**2 pairs failed with retryable errors (rate limits, timeouts): rerun the same "
        "command to ask them again; until then they count as wrong.**"
    )


def test_no_retryable_failure_no_warning() -> None:
    summary = report.summarise(
        [LARGE], ITEMS[:1], {r.key: r for r in [row(LARGE.spec, "i0", True)]}
    )
    assert "retryable" not in report.markdown(summary, title="t", meta={})


def test_truncated_answers_are_counted_and_explained() -> None:
    rows = [
        row(LARGE.spec, f"i{n}", n == 0, finish_reason="length" if n else "stop") for n in range(3)
    ]
    summary = report.summarise([LARGE], ITEMS[:3], {r.key: r for r in rows})
    assert summary.strategies[0].truncated == 2
    text = report.markdown(summary, title="t", meta={})
    assert "| truncated |" in text and "| 2 |" in text
    assert "Truncated: 2 answers stopped at `--max-tokens`" in text


def test_no_truncated_answer_no_column() -> None:
    summary = report.summarise(
        [LARGE], ITEMS[:1], {r.key: r for r in [row(LARGE.spec, "i0", True)]}
    )
    assert "truncated" not in report.markdown(summary, title="t", meta={}).lower()


def test_a_routed_strategy_lists_which_models_answered_how_often() -> None:
    rows = [row(AUTO.spec, f"i{n}", True, model="sim-small") for n in range(3)]
    rows.append(row(AUTO.spec, "i3", True, model="sim-large"))
    rows.append(row(LARGE.spec, "i0", True, model="sim-large"))
    summary = report.summarise([AUTO, LARGE], ITEMS[:4], {r.key: r for r in rows})
    assert summary.strategies[0].answered_by == {"sim-small": 3, "sim-large": 1}
    assert summary.strategies[1].answered_by == {}  # one model: nothing to say
    text = report.markdown(summary, title="t", meta={})
    assert "`auto:fast` was answered by `sim-small` 3, `sim-large` 1." in text
