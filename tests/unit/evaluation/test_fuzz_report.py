"""Fuzzing the report: any mix of results (failed, ungraded, judge-graded, empty, odd
confidences, debates with gaps) summarises, renders as markdown and draws valid SVG, and
its figures keep their ranges. A report that crashes at the end of a paid run loses the
run's figures, so no input may break it."""

from __future__ import annotations

import json
import math
import xml.etree.ElementTree as ET

from hypothesis import given, settings
from hypothesis import strategies as st

from orchestra.evaluation import plots, report
from orchestra.evaluation.records import Grade, Item, Outcome, Result, Sample
from orchestra.evaluation.strategies import Strategy

SPECS = [
    Strategy("sim-large", "single", ("sim-large",)),
    Strategy("sim-small", "single", ("sim-small",)),
    Strategy("sample(sim-small, k=3, temperature=0.7)", "sample", ("sim-small",), k=3),
    Strategy("panel(a<b>, b&c, fusion=vote)", "panel", ("a<b>", "b&c")),
    Strategy("debate(a, b, rounds=3, threshold=0.8)", "debate", ("a", "b")),
]
ITEMS = [Item(id=f"i{i}", kind="exact", question="q", answer="18") for i in range(6)]
UNIT = st.floats(0, 1)
ODD = st.none() | UNIT | st.floats(-2, 3, allow_nan=False)

SAMPLES = st.lists(
    st.builds(
        Sample,
        model=st.sampled_from(["a", "b", "a"]),
        answer=st.none() | st.sampled_from(["18", "17", "The answer is 18.", ""]),
        round=st.none() | st.integers(1, 3),
        error=st.none() | st.just("500 boom"),
        correct=st.none() | st.booleans(),
    ),
    max_size=6,
)
OUTCOMES = st.builds(
    Outcome,
    answer=st.none() | st.just("18"),
    cost_usd=st.floats(0, 0.05) | st.just(0.0),
    prompt_tokens=st.integers(0, 5000),
    completion_tokens=st.integers(0, 5000),
    calls=st.integers(0, 20),
    latency_ms=st.floats(0, 1e5),
    confidence=ODD,
    agreement=ODD,
    samples=SAMPLES,
    error=st.none() | st.just("503 overloaded: later"),
)
GRADES = st.none() | st.builds(
    Grade,
    correct=st.booleans(),
    score=UNIT,
    orders=st.none() | st.lists(UNIT, min_size=2, max_size=2),
    judge=st.none() | st.just("sim-medium"),
    cost_usd=st.floats(0, 0.01),
)


@st.composite
def runs(draw: st.DrawFn) -> dict[tuple[str, str], Result]:
    """Each (strategy, item) pair absent, failed, or graded, at random."""
    results = {}
    for spec in SPECS:
        for item in ITEMS:
            if draw(st.booleans()):
                continue
            outcome, grade = draw(OUTCOMES), draw(GRADES)
            if outcome.error is not None:
                grade = None
            row = Result(strategy=spec.spec, item=item.id, outcome=outcome, grade=grade, at=0.0)
            results[row.key] = row
    return results


@settings(max_examples=25, deadline=None)
@given(runs(), st.integers(1, len(SPECS)))
def test_any_results_summarise_render_and_draw(
    results: dict[tuple[str, str], Result], count: int
) -> None:
    specs = SPECS[:count] if count % 2 else SPECS[-count:]  # with and without singles
    summary = report.summarise(specs, ITEMS, results)

    text = report.markdown(summary, title="fuzz <t>", meta={"k": "v|w"})
    json.loads(summary.to_json())
    for svg in (plots.accuracy_cost(summary.strategies), plots.calibration(summary.strategies)):
        if svg is not None:
            ET.fromstring(svg)
            assert "nan" not in svg and "inf" not in svg

    assert text.startswith("# fuzz &lt;t&gt;\n") and "|---|\n\n" not in text
    for entry in summary.strategies:
        assert entry.n + entry.missing == len(ITEMS)
        assert 0 <= entry.ci_low <= entry.accuracy <= entry.ci_high <= 1 or entry.n == 0
        assert entry.errors <= entry.n and entry.correct <= entry.n - entry.errors
        if entry.paired is not None:
            assert 0 <= entry.paired.p <= 1 and -1 <= entry.paired.delta <= 1
        if entry.calibration is not None:
            assert 0 <= entry.calibration.ece <= 1 and 0 <= entry.calibration.brier <= 1
        assert all(math.isfinite(p.accuracy) for p in entry.curve)
