"""summarise, markdown and write on synthetic results whose figures were counted by hand."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from orchestra.evaluation import report
from orchestra.evaluation import summary as summary_module
from orchestra.evaluation.records import Grade, Item, Outcome, Result, Sample
from orchestra.evaluation.strategies import Strategy


def items(n: int, prefix: str = "i") -> list[Item]:
    return [Item(id=f"{prefix}{i}", kind="exact", question="q?", answer="18") for i in range(n)]


def result(spec: str, item: str, correct: bool | None, **outcome: object) -> Result:
    """``correct`` None: the item failed (no grade)."""
    if correct is None:
        outcome.setdefault("error", "503 overloaded: try later")
    grade = None if correct is None else Grade(correct=correct, score=float(correct))
    return Result(strategy=spec, item=item, outcome=Outcome(**outcome), grade=grade, at=0.0)


A = Strategy("sim-large", "single", ("sim-large",))
B = Strategy("sim-small", "single", ("sim-small",))
C = Strategy("auto", "single", ("auto",))


def singles() -> dict[tuple[str, str], Result]:
    # A right on i0..i7; B right on i0..i3 and i8, failed on i9; C run on i0..i4 only
    rows = [
        result(A.spec, f"i{i}", i < 8, cost_usd=0.001, latency_ms=100.0 * (i + 1),
               prompt_tokens=100, completion_tokens=50, calls=1)
        for i in range(10)
    ]  # fmt: skip
    rows += [result(B.spec, f"i{i}", i < 4 or i == 8, cost_usd=0.0001, calls=1) for i in range(9)]
    rows.append(result(B.spec, "i9", None, calls=2))
    rows += [result(C.spec, f"i{i}", i < 3, cost_usd=0.002, calls=1) for i in range(5)]
    return {r.key: r for r in rows}


def test_summary_counts_accuracy_errors_cost_latency_and_missing() -> None:
    summary = report.summarise([A, B, C], items(10), singles())
    a, b, c = summary.strategies

    assert summary.items == 10
    assert (a.n, a.correct, a.errors, a.accuracy) == (10, 8, 0, 0.8)
    assert (a.ci_low, a.ci_high) == (
        pytest.approx(0.4902, abs=1e-4),
        pytest.approx(0.9433, abs=1e-4),
    )
    assert a.cost_usd == pytest.approx(0.01)
    assert a.cost_per_item == pytest.approx(0.001)
    assert (a.tokens_per_item, a.calls_per_item) == (150, 1)
    # latencies 100..1000: p50 at rank 4.5 -> 550; p95 at rank 8.55 -> 955
    assert (a.p50_ms, a.p95_ms) == (pytest.approx(550), pytest.approx(955))
    # the failure counts wrong, and as an error; its calls still count
    assert (b.n, b.correct, b.errors, b.accuracy) == (10, 5, 1, 0.5)
    assert b.calls_per_item == pytest.approx(1.1)
    assert b.cost_per_item == pytest.approx(0.00009)
    assert (c.n, c.missing, c.accuracy) == (5, 5, 0.6)


def test_mcnemar_against_the_best_single_on_shared_items() -> None:
    summary = report.summarise([A, B, C], items(10), singles())
    a, b, c = summary.strategies

    assert summary.baseline == "sim-large"
    assert a.paired is None
    # B right where A wrong: i8 (b=1); A right where B wrong: i4..i7 (c=4)
    # p = 2 (C(5,0) + C(5,1)) / 2^5 = 12/32
    assert b.paired == summary_module.Paired("sim-large", 10, 1, 4, pytest.approx(-0.3), 0.375)
    # C ran i0..i4 only: A right on all five, C on three -> b=0, c=2, p = 2/4
    assert c.paired == summary_module.Paired("sim-large", 5, 0, 2, pytest.approx(-0.4), 0.5)


def test_baseline_tie_goes_to_the_cheaper_single() -> None:
    dear = Strategy("dear", "single", ("dear",))
    cheap = Strategy("cheap", "single", ("cheap",))
    rows = [result("dear", "i0", True, cost_usd=0.01), result("cheap", "i0", True, cost_usd=0.001)]

    summary = report.summarise([dear, cheap], items(1), {r.key: r for r in rows})

    assert summary.baseline == "cheap"


def test_matched_cost_names_the_best_no_dearer_strategy_and_the_frontier() -> None:
    a, b, c = report.summarise([A, B, C], items(10), singles()).strategies

    # costs per item: B 0.00009 < A 0.001 < C 0.002
    assert (b.matched.best, b.matched.accuracy, b.matched.pareto) == ("sim-small", 0.5, True)
    assert (a.matched.best, a.matched.pareto) == ("sim-large", True)
    assert (c.matched.best, c.matched.accuracy, c.matched.pareto) == ("sim-large", 0.8, False)


SC = Strategy("sample(sim-small, k=3, temperature=0.7)", "sample", ("sim-small",), k=3)


def sample_results() -> dict[tuple[str, str], Result]:
    def run(item: str, answers: list[tuple[str, bool]], confidence: float) -> Result:
        samples = [Sample(model="sim-small", answer=a, correct=y) for a, y in answers]
        return result(SC.spec, item, True, cost_usd=0.0003, calls=3, samples=samples,
                      confidence=confidence, agreement=confidence)  # fmt: skip

    rows = [
        run("i0", [("The answer is 18.", True), ("The answer is 18.", True), ("20", False)], 2 / 3),
        run("i1", [("20", False), ("18", True), ("The answer is 18.", True)], 2 / 3),
        run("i2", [("18", True), ("17", False), ("16", False)], 1 / 3),
        result(SC.spec, "i3", None, calls=0),
    ]
    return {r.key: r for r in rows}


def test_sample_curve_votes_the_first_j_samples() -> None:
    (s,) = report.summarise([SC], items(4), sample_results()).strategies

    # j=1: i0 T, i1 F (20), i2 T, i3 failed -> 2/4
    # j=2: i0 T; i1 20 vs 18 tie -> the earliest, 20: F; i2 18 vs 17 -> 18: T -> 2/4
    # j=3: i0 T, i1 18 (2 of 3) T, i2 three singletons -> 18: T -> 3/4
    assert [(p.samples, p.n, p.accuracy) for p in s.curve] == [
        (1, 4, 0.5),
        (2, 4, 0.5),
        (3, 4, 0.75),
    ]
    # total 0.0009 over 4 items = 0.000225 per item; j samples cost j/3 of it
    assert [p.cost_per_item for p in s.curve] == pytest.approx([0.000075, 0.00015, 0.000225])
    assert (s.accuracy, s.errors) == (0.75, 1)


def test_fused_calibration_and_agreement_leave_failures_out() -> None:
    (s,) = report.summarise([SC], items(4), sample_results()).strategies

    # (2/3, T), (2/3, T), (1/3, T): ECE = 2/3 * 1/3 + 1/3 * 2/3 = 4/9;
    # Brier = (2 (1/3)^2 + (2/3)^2) / 3 = (2/9 + 4/9) / 3 = 2/9
    assert s.calibration is not None
    assert s.calibration.n == 3
    assert s.calibration.ece == pytest.approx(4 / 9)
    assert s.calibration.brier == pytest.approx(2 / 9)
    assert [(lv.agreement, lv.n, lv.accuracy) for lv in s.agreement] == [
        (0.33, 1, 1.0),
        (0.67, 2, 1.0),
    ]


DEBATE = Strategy("debate(sim-large, sim-small, rounds=3, threshold=0.8)", "debate",
              ("sim-large", "sim-small"))  # fmt: skip
# per item, per round: (large's answer, right?), (small's answer, right?); final grade
TURNS = {
    "d0": ([("18", True), ("20", False)], [("18", True), ("18", True)], [("18", True), ("18", True)], True),
    "d1": ([("20", False), ("18", True)], [("20", False), ("20", False)], [("20", False), ("20", False)], False),
    "d2": ([("18", True), ("18", True)], [("17", False), ("18", True)], [("18", True), ("18", True)], True),
}  # fmt: skip


def debate_results() -> dict[tuple[str, str], Result]:
    rows = []
    for item, (*rounds, final) in TURNS.items():
        samples = [
            Sample(model=model, answer=answer, correct=right, round=number)
            for number, turns in enumerate(rounds, start=1)
            for model, (answer, right) in zip(DEBATE.models, turns, strict=True)
        ]
        rows.append(result(DEBATE.spec, item, final, samples=samples, rounds=3, calls=7))
    return {r.key: r for r in rows}


def test_debate_rounds_majority_and_flips_counted_by_hand() -> None:
    (s,) = report.summarise([DEBATE], items(3, "d"), debate_results()).strategies
    assert s.debate is not None

    # round 1: large 2/3, small 2/3; majority d0 tie -> large's 18 T, d1 tie -> 20 F, d2 T
    # round 2: large 1/3, small 2/3 -> mean 1/2; majority d0 T, d1 F, d2 tie -> 17 F
    # round 3: large 2/3, small 2/3; majority T, F, T
    rounds = [(r.round, r.n, r.participant_accuracy, r.majority_accuracy) for r in s.debate.rounds]
    assert rounds == [
        (1, 3, pytest.approx(2 / 3), pytest.approx(2 / 3)),
        (2, 3, pytest.approx(1 / 2), pytest.approx(1 / 3)),
        (3, 3, pytest.approx(2 / 3), pytest.approx(2 / 3)),
    ]
    # 1->2: large d2 right->wrong; small d0 wrong->right, d1 right->wrong
    # 2->3: large d2 wrong->right; small no change
    flips = [
        (f.participant, f.start, f.end, f.right_to_wrong, f.wrong_to_right) for f in s.debate.flips
    ]
    assert flips == [
        ("sim-large", 1, 2, 1, 0),
        ("sim-small", 1, 2, 1, 1),
        ("sim-large", 2, 3, 0, 1),
        ("sim-small", 2, 3, 0, 0),
    ]
    assert s.debate.final_accuracy == pytest.approx(2 / 3)


def test_the_curve_counts_items_failed_part_way_wrong_so_j_equals_k_is_the_accuracy() -> None:
    # Given an item whose third sample failed after two right answers (the item failed)
    failed = result(SC.spec, "i3", None, calls=3, samples=[
        Sample(model="sim-small", answer="18"), Sample(model="sim-small", answer="18"),
        Sample(model="sim-small", error="503 overloaded: try later"),
    ])  # fmt: skip
    rows = sample_results() | {failed.key: failed}
    (s,) = report.summarise([SC], items(4), rows).strategies

    # Then it counts wrong at every j, as in the accuracy column
    assert [(p.n, p.accuracy) for p in s.curve] == [(4, 0.5), (4, 0.5), (4, 0.75)]
    assert s.curve[-1].accuracy == s.accuracy


def test_the_curve_votes_as_the_strategy_did_phrasings_and_ties_alike() -> None:
    # Given the samples the strategy voted on (fusion's clusters: "$18.00" is 18)
    samples = [Sample(model="m", answer=a, correct=a != "20") for a in ("20", "$18.00", "18")]
    row = result(SC.spec, "i0", True, samples=samples, answer="$18.00")
    (s,) = report.summarise([SC], items(1), {row.key: row}).strategies

    assert [p.accuracy for p in s.curve] == [0.0, 0.0, 1.0]


def test_markdown_shows_the_numbers_and_sections() -> None:
    results = singles() | sample_results() | debate_results()
    summary = report.summarise([A, B, C, SC, DEBATE], items(10) + items(3, "d"), results)

    text = report.markdown(summary, title="GSM8K, 10 items", meta={"dataset": "gsm8k", "seed": "0"})

    assert text.startswith("# GSM8K, 10 items\n")
    assert "- **dataset**: gsm8k" in text
    assert "| `sim-large` | 10 (3 missing) | 80.0% [49.0%, 94.3%] | 0 | $0.01 ($0.001) |" in text
    assert "-30.0 pts, p=0.375 (n=10)" in text
    assert "baseline" in text
    assert "## Accuracy at matched cost" in text
    assert "| `auto` | $0.002 | 60.0% | `sim-large` | 80.0% | no |" in text
    assert "First j samples of `sample(sim-small, k=3, temperature=0.7)`" in text
    assert "ECE 0.444, Brier 0.222 (n=3)" in text
    assert "## Accuracy by agreement" in text
    assert "| `sim-small` | 1→2 | 1 | 1 |" in text
    assert "![Accuracy against cost per item](accuracy_cost.svg)" in text
    assert "![Calibration](calibration.svg)" in text
    assert text.count("*How to read*") == 5


def test_markdown_without_fused_strategies_has_no_fused_sections() -> None:
    summary = report.summarise([A, B], items(10), singles())

    text = report.markdown(summary, title="t", meta={})

    assert "Calibration" not in text
    assert "## Debates" not in text
    assert "agreement" not in text.lower()


def test_write_puts_report_json_and_pictures_in_the_folder(tmp_path: Path) -> None:
    results = singles() | sample_results()
    summary = report.summarise([A, B, SC], items(10), results)

    paths = report.write(summary, tmp_path / "out", title="t", meta={"a": "b"})

    names = sorted(p.name for p in paths)
    assert names == ["accuracy_cost.svg", "calibration.svg", "report.md", "summary.json"]
    data = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert data["baseline"] == "sim-large"
    assert data["strategies"][2]["calibration"]["ece"] == pytest.approx(4 / 9)
    for name in ("accuracy_cost.svg", "calibration.svg"):
        ET.parse(tmp_path / "out" / name)


def test_write_without_fused_strategies_draws_no_calibration(tmp_path: Path) -> None:
    summary = report.summarise([A], items(10), singles())

    paths = report.write(summary, tmp_path, title="t", meta={})

    assert sorted(p.name for p in paths) == ["accuracy_cost.svg", "report.md", "summary.json"]


def test_a_strategy_with_nothing_graded_renders_every_section() -> None:
    # Given a panel, k samples and a debate that failed on every item, and a single not run
    panel = Strategy("panel(a, b, fusion=vote)", "panel", ("a", "b"))
    specs = [A, B, panel, SC, DEBATE]
    failed = [result(s.spec, f"i{i}", None, calls=1) for s in (A, panel, SC, DEBATE)
              for i in range(4)]  # fmt: skip
    summary = report.summarise(specs, items(4), {r.key: r for r in failed})

    text = report.markdown(summary, title="t", meta={})

    # Then each shows as errors counted wrong, the missing one as not run, nothing as "n/a/n/a"
    assert "| `sim-large` | 4 | 0.0% [0.0%, 49.0%] | 4 |" in text
    assert "| `sim-small` | 0 (4 missing) | n/a (not run) |" in text
    assert "n/a/n/a" not in text and "| n/a |" in text
    assert "*(no graded answers)*" in text  # the debate's rounds
    assert "|---|\n\n" not in text  # no table without rows


def test_only_fused_strategies_say_there_is_no_single_baseline() -> None:
    summary = report.summarise([SC], items(10), sample_results())

    text = report.markdown(summary, title="t", meta={})

    assert summary.baseline is None
    assert "no baseline for Δ and McNemar's test" in text
    assert "| n/a |\n" in text  # the comparison cell


def test_the_last_calibration_bin_is_closed_and_its_figures_are_percentages() -> None:
    # Given the sample results and one more item all three samples agreed on (confidence 1)
    rows = sample_results()
    unanimous = [Sample(model="sim-small", answer="18", correct=True)] * 3
    extra = result(SC.spec, "i4", True, samples=unanimous, confidence=1.0, agreement=1.0)
    summary = report.summarise([SC], items(10), rows | {extra.key: extra})

    text = report.markdown(summary, title="t", meta={})

    assert "| [0.9, 1.0] | 1 | 100.0% | 100.0% |" in text and "1.0)" not in text
    assert "| [0.6, 0.7) | 2 | 66.7% | 100.0% |" in text


def test_small_p_values_read_as_a_bound() -> None:
    # Given a single right on 12 items the baseline got wrong: p = 2/4096
    rows = [result(A.spec, f"i{i}", True) for i in range(12)]
    rows += [result(B.spec, f"i{i}", False, cost_usd=1.0) for i in range(12)]

    text = report.markdown(
        report.summarise([A, B], items(12), {r.key: r for r in rows}), title="t", meta={}
    )

    assert "-100.0 pts, p<0.001 (n=12)" in text


def test_judge_graded_items_show_the_mean_score_and_the_position_bias() -> None:
    # Given judge grades scoring the answer 0.8 shown first and 0.6 shown second
    grade = Grade(correct=True, score=0.7, orders=[0.8, 0.6], judge="sim-medium", cost_usd=0.5)
    rows = [
        Result(strategy=A.spec, item=f"i{i}", outcome=Outcome(answer="x"), grade=grade, at=0.0)
        for i in range(3)
    ]
    summary = report.summarise([A], items(3), {r.key: r for r in rows})

    text = report.markdown(summary, title="t", meta={})

    entry = summary.strategies[0]
    assert (entry.score, entry.judged, entry.bias) == (pytest.approx(0.7), 3, pytest.approx(0.2))
    assert "| judge score |" in text and "| 0.70 (n=3) |" in text
    assert "shown first it scored +0.20 more than shown second" in text
    assert "Grading (judge calls) cost $1.5 on top." in text


def test_exact_items_have_no_judge_score_column() -> None:
    text = report.markdown(report.summarise([A, B], items(10), singles()), title="t", meta={})

    assert "judge score" not in text.lower()


def test_the_samples_curve_votes_as_the_grader_reads() -> None:
    # Given 5 samples: three unmarked replies ending on $18 (the grader reads 18: right) and
    # two marked "The answer is 20." (wrong), which fusion's clusters alone would pick
    item = Item(id="q", kind="exact", question="How much a day?", answer="18")
    rights = [
        "First we find how many eggs are left over and then we multiply: 9 * 2 = $18",
        "Janet sells the remaining nine eggs at two dollars each, which makes 2 x 9 = 18",
        "Sixteen eggs minus the seven she uses leaves nine, and nine times two gives 18",
    ]
    right = rights[0]
    samples = [Sample(model="m", answer=text, correct=True) for text in rights]
    samples += [Sample(model="m", answer="The answer is 20.", correct=False) for _ in range(2)]
    spec = Strategy("sample(m, k=5, temperature=0.7)", "sample", ("m",), k=5)
    row = result(spec.spec, "q", True, samples=samples, answer=right)
    # When the report is made with the item (so with the grader's reading)
    summary = report.summarise([spec], [item], {(spec.spec, "q"): row})
    # Then the vote of all five samples is the grader's 18: right, as the strategy's answer was
    assert summary.strategies[0].curve[-1].accuracy == 1.0
    # (by fusion's clusters alone, the three differently worded replies split and 20 wins)
    unread = report.summarise([spec], ["q"], {(spec.spec, "q"): row})
    assert unread.strategies[0].curve[-1].accuracy == 0.0
