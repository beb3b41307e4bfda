"""The SVG pictures: valid XML, escaped labels, and sensible in the edge cases."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from orchestra.evaluation import plots, stats
from orchestra.evaluation.summary import CurvePoint, StrategyStats

SVG = "{http://www.w3.org/2000/svg}"


def entry(spec: str, accuracy: float, cost: float, **extra: object) -> StrategyStats:
    low, high = stats.wilson(round(accuracy * 20), 20)
    values: dict[str, object] = dict(
        spec=spec, kind="single", fused=False, n=20, missing=0, correct=round(accuracy * 20),
        errors=0, accuracy=accuracy, ci_low=low, ci_high=high, cost_usd=cost * 20,
        cost_per_item=cost, grading_cost_usd=0.0, tokens_per_item=100.0, calls_per_item=1.0,
        p50_ms=10.0, p95_ms=20.0,
    )  # fmt: skip
    values.update(extra)
    return StrategyStats(**values)  # type: ignore[arg-type]


def texts(svg: str) -> list[str]:
    root = ET.fromstring(svg)
    assert root.tag == f"{SVG}svg"
    return [t.text or "" for t in root.iter(f"{SVG}text")]


def test_accuracy_cost_escapes_labels_and_shows_every_strategy() -> None:
    table = [entry("panel(a<b>, c&d)", 0.8, 0.002), entry("sim-small", 0.5, 0.001)]

    svg = plots.accuracy_cost(table)

    labels = texts(svg)
    assert any("panel(a<b>, c&d): 80.0% at $0.002/item" in t for t in labels)
    assert any("sim-small: 50.0% at $0.001/item" in t for t in labels)
    assert "cost per item (USD)" in labels
    assert svg.count("<circle") == 4  # two points, two legend swatches


def test_cost_axis_is_logarithmic_when_costs_spread_more_than_tenfold() -> None:
    table = [entry("cheap", 0.5, 0.0001), entry("dear", 0.9, 0.02)]

    labels = texts(plots.accuracy_cost(table))

    assert "cost per item (USD, log scale)" in labels
    # the axis hugs the points: the decades inside, not the next one out
    assert {"$0.0001", "$0.001", "$0.01"} <= set(labels)
    assert "$0.1" not in labels and "$0.00001" not in labels


def test_a_log_axis_of_under_three_decades_also_ticks_twos_and_fives() -> None:
    labels = texts(plots.accuracy_cost([entry("a", 0.5, 0.001), entry("b", 0.9, 0.02)]))

    assert {"$0.001", "$0.002", "$0.005", "$0.01", "$0.02"} <= set(labels)


@pytest.mark.parametrize(
    "costs", [[0.0], [0.0, 0.0], [0.0, 0.01], [0.003], [0.0, 5e-324], [5e-324, 0.01]]
)
def test_one_strategy_and_zero_cost_still_draw(costs: list[float]) -> None:
    table = [entry(f"s{i}", 0.6, cost) for i, cost in enumerate(costs)]

    svg = plots.accuracy_cost(table)

    labels = texts(svg)
    assert "cost per item (USD)" in labels
    assert "nan" not in svg and "inf" not in svg
    assert len(labels) < 40  # found by test_fuzz_report: 5e-324 crashed, or drew 300 decades


def test_no_results_gives_a_placeholder() -> None:
    assert "no results yet" in texts(plots.accuracy_cost([entry("s", 0.0, 0.0, n=0)]))


def test_sample_curve_is_drawn_dashed() -> None:
    curve = [CurvePoint(1, 0.001, 20, 0.6), CurvePoint(2, 0.002, 20, 0.7)]
    svg = plots.accuracy_cost([entry("sample(m, k=2)", 0.7, 0.002, kind="sample", curve=curve)])

    root = ET.fromstring(svg)
    (line,) = root.iter(f"{SVG}polyline")
    assert line.get("stroke-dasharray") and len(line.get("points", "").split()) == 2


def test_calibration_draws_non_empty_bins_and_the_diagonal() -> None:
    fused = entry(
        "sample(m, k=5)", 0.7, 0.005, kind="sample", fused=True,
        calibration=stats.calibration([(0.9, True), (0.9, True), (0.5, False), (0.55, True)]),
    )  # fmt: skip

    svg = plots.calibration([entry("m", 0.6, 0.001), fused])

    assert svg is not None
    root = ET.fromstring(svg)
    (curve,) = root.iter(f"{SVG}polyline")
    assert len(curve.get("points", "").split()) == 2  # bins 5 and 9
    assert any(line.get("stroke-dasharray") for line in root.iter(f"{SVG}line"))
    assert "sample(m, k=5):" in texts(svg)
    assert any(t.strip().startswith("ECE") for t in texts(svg))


def test_calibration_is_as_wide_as_its_square_plot_and_legend_need() -> None:
    # Given a short spec: the picture is the square plot and its margins, no empty half
    short = entry("sc(m)", 0.7, 0.005, fused=True, calibration=stats.calibration([(0.9, True)]))
    narrow = ET.fromstring(plots.calibration([short]) or "")
    assert int(narrow.get("width", "0")) == plots.LEFT + plots.PLOT_HEIGHT + plots.RIGHT
    # Given a panel of many models: as wide as the usual picture, the legend cut to fit
    spec = "panel(" + ", ".join(f"model-{i}" for i in range(16)) + ", fusion=vote)"
    wide = plots.calibration([entry(spec, 0.7, 0.005, fused=True, calibration=short.calibration)])
    root = ET.fromstring(wide or "")
    assert int(root.get("width", "0")) == plots.WIDTH
    (cut,) = [t for t in texts(wide or "") if t.startswith("panel(")]
    assert cut.endswith("\u2026") and len(cut) * plots.CHAR_WIDTH < plots.WIDTH - plots.LEFT
    assert any(t.text == spec + ":" for t in root.iter(f"{SVG}title"))


def test_no_fused_strategy_means_no_calibration_picture() -> None:
    assert plots.calibration([entry("m", 0.6, 0.001)]) is None
    empty = stats.calibration([])
    assert plots.calibration([entry("p", 0.6, 0.001, fused=True, calibration=empty)]) is None


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0, "$0"),
        (0.00009, "$0.00009"),
        (0.000225, "$0.000225"),
        (0.0123, "$0.0123"),
        (12.345, "$12.35"),
    ],
)
def test_usd_has_no_exponent(value: float, text: str) -> None:
    assert plots.usd(value) == text
