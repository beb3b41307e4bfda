"""The report of a run: markdown (:func:`markdown`), and on disk with its JSON and pictures
(:func:`write`). The figures come from :func:`~.summary.summarise` (re-exported here).

Each section ends with a short "how to read" paragraph: the report is read by people who
did not write the statistics, and the caveats (small n, pairing, binning) change what a
number means.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from orchestra.evaluation import plots
from orchestra.evaluation.summary import StrategyStats, Summary, summarise

__all__ = ["Summary", "markdown", "summarise", "write"]


def markdown(summary: Summary, *, title: str, meta: Mapping[str, str]) -> str:
    """The report as markdown; pictures linked relative to the report's folder."""
    return "\n".join(_render(summary, title, meta)) + "\n"


def write(summary: Summary, out_dir: Path, *, title: str, meta: Mapping[str, str]) -> list[Path]:
    """Write ``report.md``, ``summary.json``, ``accuracy_cost.svg`` and (when a fused
    strategy has confidences) ``calibration.svg`` into ``out_dir``; returns the paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    pictures: dict[str, str] = {"accuracy_cost.svg": plots.accuracy_cost(summary.strategies)}
    curves = plots.calibration(summary.strategies)
    if curves is not None:
        pictures["calibration.svg"] = curves
    for name, svg in pictures.items():
        written.append(_save(out_dir / name, svg))
    written.append(_save(out_dir / "summary.json", summary.to_json() + "\n"))
    text = markdown(summary, title=title, meta=meta)
    written.insert(0, _save(out_dir / "report.md", text))
    return written


def _save(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


_HOW = {
    "main": (
        "*How to read*: accuracy counts failed items as wrong; the interval is Wilson's 95% "
        "interval, wide at small n (at 50 items +-~13 points), so overlapping intervals decide "
        "nothing. Δ is the accuracy difference with the best single model on the items both "
        "answered, and p McNemar's exact test on the items where exactly one of the two was "
        "right (paired: far more sensitive than comparing two intervals). p < 0.05 is the "
        "usual bar for one comparison; with several, some pass it by chance, so use the "
        "corrected threshold above (Bonferroni: 0.05 / comparisons made). Cost is the "
        "gateway's (grading's judge calls apart); latency is the client's wall time per item."
    ),
    "matched": (
        "*How to read*: for each strategy, the best accuracy any strategy reaches at no more "
        "cost per item. A strategy pays when it is its own best (and on the Pareto frontier: "
        "nothing is both cheaper and as accurate). For k samples, the vote of the first j "
        "samples traces what fewer samples would have given at j/k of the cost."
    ),
    "calibration": (
        "*How to read*: answers are put in 10 equal-width bins by their confidence; a "
        "calibrated strategy is right about as often as its confidence says (points on the "
        "diagonal). ECE is the n-weighted mean gap |accuracy - confidence| (0 is perfect; "
        "with few answers per bin it is noisy and biased upward); Brier is the mean squared "
        "gap between confidence and the 0/1 outcome (0 perfect, 0.25 for a constant 0.5)."
    ),
    "agreement": (
        "*How to read*: agreement is the share of the fused answers in the winning cluster. "
        "When accuracy climbs with agreement, low agreement flags the answers to check."
    ),
    "debate": (
        "*How to read*: per round, the participants' mean accuracy and the accuracy of the "
        "round's majority answer; then how often each participant moved from a right answer "
        "to a wrong one and back between rounds. More wrong->right than right->wrong is "
        "debate helping; the reverse is conformity to a wrong majority."
    ),
}


def _pct(value: float) -> str:
    return f"{100 * value:.1f}%"


def _plain(text: str) -> str:
    """Text shown as typed: markdown renders ``<...>`` as HTML (and hides it)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _num(value: float | None, spec: str = ".0f") -> str:
    return "n/a" if value is None else format(value, spec)


def _p(value: float) -> str:
    """A p-value as people read them: three places, tiny ones as a bound."""
    return "p<0.001" if value < 0.001 else f"p={value:.3f}"


def _latency(s: StrategyStats) -> str:
    if s.p50_ms is None or s.p95_ms is None:
        return "n/a"
    return f"{s.p50_ms:.0f}/{s.p95_ms:.0f}"


def _accuracy(s: StrategyStats) -> str:
    if not s.n:
        return "n/a (not run)"
    return f"{_pct(s.accuracy)} [{_pct(s.ci_low)}, {_pct(s.ci_high)}]"


def _bin(low: float, high: float) -> str:
    """``[0.3, 0.4)``; the last bin holds 1.0 too: ``[0.9, 1.0]``."""
    return f"[{low:.1f}, {high:.1f}" + ("]" if high >= 1.0 else ")")


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    if not rows:
        return ["*(no graded answers)*", ""]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return [*lines, ""]


def _render(summary: Summary, title: str, meta: Mapping[str, str]) -> list[str]:
    lines = [f"# {_plain(title)}", "", *_retry_warning(summary)]
    lines += [f"- **{_plain(key)}**: {_plain(value)}" for key, value in meta.items()]
    lines += ["", *_main(summary), *_matched_section(summary)]
    fused = [s for s in summary.strategies if s.calibration is not None and s.calibration.n]
    if fused:
        lines += _calibration_section(fused)
    if any(s.agreement for s in summary.strategies):
        lines += _agreement_section(summary.strategies)
    debates = [s for s in summary.strategies if s.debate is not None]
    if debates:
        lines += _debate_section(debates)
    return lines


def _retry_warning(summary: Summary) -> list[str]:
    """First thing read: failures a rerun may fix still weigh on the figures below."""
    pairs = sum(s.retryable for s in summary.strategies)
    if not pairs:
        return []
    said = "1 pair" if pairs == 1 else f"{pairs} pairs"
    return [f"**{said} failed with retryable errors (rate limits, timeouts): rerun the same "
            "command to ask them again; until then they count as wrong.**", ""]  # fmt: skip


def _versus(s: StrategyStats, baseline: str | None) -> str:
    if baseline is None or not s.n:
        return "n/a"
    if s.paired is None:
        return "baseline" if s.spec == baseline else "n/a"
    if s.paired.n == 0:
        return "no item in common"
    return f"{100 * s.paired.delta:+.1f} pts, {_p(s.paired.p)} (n={s.paired.n})"


def _main(summary: Summary) -> list[str]:
    judged = any(s.score is not None for s in summary.strategies)
    cut = any(s.truncated for s in summary.strategies)
    header = ["strategy", "n", "accuracy [95% CI]", *(["judge score"] * judged), "errors",
              *(["truncated"] * cut), "cost (per item)", "tokens/item", "calls/item",
              "p50/p95 ms", "vs best single: Δ, McNemar p"]  # fmt: skip
    rows = []
    for s in summary.strategies:
        score = [_num(s.score, ".2f") + (f" (n={s.judged})" if s.score is not None else "")]
        rows.append([
            f"`{s.spec}`", f"{s.n}" + (f" ({s.missing} missing)" if s.missing else ""),
            _accuracy(s), *(score * judged), str(s.errors), *([str(s.truncated)] * cut),
            f"{plots.usd(s.cost_usd)} ({plots.usd(s.cost_per_item)})", f"{s.tokens_per_item:.0f}",
            f"{s.calls_per_item:.2f}", _latency(s), _versus(s, summary.baseline),
        ])  # fmt: skip
    lines = ["## Strategies", "", *_table(header, rows), *_notes(summary, judged)]
    return [*lines, "![Accuracy against cost per item](accuracy_cost.svg)", "", _HOW["main"], ""]


def _notes(summary: Summary, judged: bool) -> list[str]:
    """What the table cannot say in a cell: no baseline, grading's cost, the judge's bias."""
    lines = _baseline_notes(summary) + _answered_notes(summary.strategies)
    grading = sum(s.grading_cost_usd for s in summary.strategies)
    if grading:
        lines += [f"Grading (judge calls) cost {plots.usd(grading)} on top.", ""]
    biases = [s.bias for s in summary.strategies if s.bias is not None]
    if judged and biases:
        bias = sum(biases) / len(biases)
        lines += [f"Judge score: the judge's mean 0..1 score of the answer (correct at the pass "
                  f"mark); shown first it scored {bias:+.2f} more than shown second on average "
                  "(position bias, averaged out by asking in both orders).", ""]  # fmt: skip
    return lines


def _baseline_notes(summary: Summary) -> list[str]:
    """Which bar a p must pass, and why the baseline's own figure flatters it."""
    if summary.baseline is None:
        return ["No single-model strategy has results, so there is no baseline for Δ and "
                "McNemar's test: add one (e.g. `--strategy sim-large`) to compare with "
                "(`auto:*` is routed among models, so it is never the baseline).", ""]  # fmt: skip
    lines = [f"Baseline `{summary.baseline}`: the most accurate single model here, picked on "
             "the same items it is compared on, so its accuracy is flattered by the pick "
             "(winner's curse) and Δ against it leans negative; `auto:*` is routed among "
             "models, not a single model, and is never the baseline.", ""]  # fmt: skip
    if summary.threshold is not None:
        n = summary.comparisons
        lines += [f"Corrected threshold: p < {summary.threshold:.4f} (0.05 / {n} comparison"
                  f"{'s' * (n != 1)} made, Bonferroni); a p between it and 0.05 may be "
                  "chance.", ""]  # fmt: skip
    return lines


def _answered_notes(table: Sequence[StrategyStats]) -> list[str]:
    """Who answered routed strategies, and answers cut off at ``--max-tokens``."""
    lines = []
    for s in table:
        if s.answered_by:
            who = ", ".join(f"`{m}` {count}" for m, count in s.answered_by.items())
            lines += [f"`{s.spec}` was answered by {who}.", ""]
    cut = sum(s.truncated for s in table)
    if cut:
        lines += [f"Truncated: {cut} answer{'s' * (cut != 1)} stopped at `--max-tokens` "
                  "(finish reason `length`) and were graded as they stand, often wrong: "
                  "raise `--max-tokens` (in a new `--out`) to measure them whole.", ""]  # fmt: skip
    return lines


def _matched_section(summary: Summary) -> list[str]:
    rows = [
        [f"`{s.spec}`", plots.usd(s.cost_per_item), _pct(s.accuracy), f"`{s.matched.best}`",
         _pct(s.matched.accuracy), "yes" if s.matched.pareto else "no"]
        if s.n else [f"`{s.spec}`", "n/a", "n/a (not run)", "", "", ""]
        for s in summary.strategies if s.matched is not None
    ]  # fmt: skip
    header = ["strategy", "cost/item", "accuracy", "best at <= this cost", "its accuracy",
              "Pareto"]  # fmt: skip
    lines = ["## Accuracy at matched cost", "", *_table(header, rows)]
    for s in summary.strategies:
        if s.curve:
            points = [[str(p.samples), plots.usd(p.cost_per_item), str(p.n), _pct(p.accuracy)]
                      for p in s.curve]  # fmt: skip
            lines += [f"First j samples of `{s.spec}`, voted:", ""]
            lines += _table(["j", "cost/item", "n", "vote accuracy"], points)
    return [*lines, _HOW["matched"], ""]


def _calibration_section(fused: Sequence[StrategyStats]) -> list[str]:
    lines = ["## Calibration of confidence", ""]
    for s in fused:
        assert s.calibration is not None
        c = s.calibration
        lines += [f"### `{s.spec}`: ECE {c.ece:.3f}, Brier {c.brier:.3f} (n={c.n})", ""]
        rows = [[_bin(b.low, b.high), str(b.n), _pct(b.confidence or 0.0),
                 _pct(b.accuracy or 0.0)] for b in c.table if b.n]  # fmt: skip
        lines += _table(["confidence", "n", "mean confidence", "accuracy"], rows)
    return [*lines, "![Calibration](calibration.svg)", "", _HOW["calibration"], ""]


def _agreement_section(table: Sequence[StrategyStats]) -> list[str]:
    lines = ["## Accuracy by agreement", ""]
    for s in table:
        if s.agreement:
            rows = [[f"{lv.agreement:.2f}", str(lv.n), _pct(lv.accuracy)] for lv in s.agreement]
            lines += [f"`{s.spec}`:", "", *_table(["agreement", "n", "accuracy"], rows)]
    return [*lines, _HOW["agreement"], ""]


def _debate_section(debates: Sequence[StrategyStats]) -> list[str]:
    lines = ["## Debates", ""]
    for s in debates:
        assert s.debate is not None
        d = s.debate
        lines += [f"### `{s.spec}`: final accuracy {_pct(d.final_accuracy)}", ""]
        rows = [[str(r.round), str(r.n), _pct(r.participant_accuracy), _pct(r.majority_accuracy)]
                for r in d.rounds]  # fmt: skip
        lines += _table(["round", "n", "mean participant accuracy", "majority accuracy"], rows)
        rows = [[f"`{f.participant}`", f"{f.start}→{f.end}", str(f.right_to_wrong),
                 str(f.wrong_to_right)] for f in d.flips]  # fmt: skip
        if rows:
            lines += _table(["participant", "rounds", "right→wrong", "wrong→right"], rows)
    return [*lines, _HOW["debate"], ""]
