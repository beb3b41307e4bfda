"""The report's pictures as hand-written SVG: accuracy against cost, and calibration.

SVG text needs no plotting library (matplotlib would be a heavy dependency for two
charts), renders in any browser and on GitHub, and diffs as text. Each function returns
the document as a string. Points carry a number and the legend below the plot names the
strategy (specs are long: labels beside the points would overlap); every label is
XML-escaped (a spec is user input).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from xml.sax.saxutils import escape, quoteattr

from orchestra.evaluation.stats import Calibration
from orchestra.evaluation.summary import StrategyStats

WIDTH = 760
LEFT, RIGHT, TOP, PLOT_HEIGHT = 70, 30, 40, 340
BOTTOM = TOP + PLOT_HEIGHT
LEGEND_LINE = 18
#: a generous mean advance of a 12px sans-serif character (DejaVu Sans measures ~6.4): SVG
#: cannot measure text, so widths are estimated and long labels cut to fit
CHAR_WIDTH = 6.6
#: the legend's text starts here, after its coloured swatch
LEGEND_TEXT = LEFT + 16
#: colour-blind-safe palette (Okabe-Ito), cycled
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000")
#: use a log cost axis when the dearest strategy costs more than this many times the cheapest
LOG_SPREAD = 10.0
#: costs per item below this many USD are drawn as zero
MIN_COST = 1e-9
#: room left and right of the extreme points on a log cost axis, in decades
LOG_MARGIN = 0.2

Scale = Callable[[float], float]


def _colour(index: int) -> str:
    return PALETTE[index % len(PALETTE)]


def _document(title: str, body: list[str], legend: Sequence[str], width: int = WIDTH) -> str:
    """The SVG around ``body``, with ``legend`` lines (already coloured) under the plot."""
    height = BOTTOM + 60 + LEGEND_LINE * len(legend)
    head = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        _text(width / 2, 22, title, "middle", ' font-size="15"'),
    ]
    return "\n".join([*head, *body, *legend, "</svg>"]) + "\n"


def _text(x: float, y: float, text: str, anchor: str = "start", extra: str = "") -> str:
    return f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}"{extra}>{escape(text)}</text>'


def _line(x1: float, y1: float, x2: float, y2: float, stroke: str, extra: str = "") -> str:
    return (
        f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" stroke="{stroke}"{extra}/>'
    )


def _legend_width(labels: Sequence[str]) -> float:
    """The width the legend's longest line needs (estimated: see ``CHAR_WIDTH``)."""
    return LEGEND_TEXT + CHAR_WIDTH * max((len(label) for label in labels), default=0) + 10


def _legend(
    index: int, label: str, width: int = WIDTH, row: int | None = None, swatch: bool = True
) -> str:
    """Legend line ``row`` (default: ``index``): a swatch and ``label`` in strategy
    ``index``'s colour; a label too long for ``width`` is cut with an ellipsis (a panel of
    16 models), whole in its tooltip."""
    y = BOTTOM + 62 + LEGEND_LINE * (index if row is None else row)
    colour = quoteattr(_colour(index))
    room = max(8, int((width - LEGEND_TEXT - 10) / CHAR_WIDTH))
    shown = label if len(label) <= room else label[: room - 1] + "\u2026"
    tip = f"<title>{escape(label)}</title>" if shown != label else ""
    dot = f'<circle cx="{LEFT + 5}" cy="{y - 4}" r="4.5" fill={colour}/>' if swatch else ""
    return f"<g>{dot}{_text(LEGEND_TEXT, y, shown, extra=f' fill={colour}')}{tip}</g>"


def _frame(x_label: str, y_label: str, right: float) -> list[str]:
    mid_y = (TOP + BOTTOM) / 2
    return [
        f'<rect x="{LEFT}" y="{TOP}" width="{right - LEFT}" height="{PLOT_HEIGHT}" '
        'fill="none" stroke="#444"/>',
        _text((LEFT + right) / 2, BOTTOM + 38, x_label, "middle"),
        _text(18, mid_y, y_label, "middle", f' transform="rotate(-90 18 {mid_y:.1f})"'),
    ]


def _grid(
    x: Scale, x_ticks: Sequence[float], x_fmt: Callable[[float], str], right: float
) -> list[str]:
    """Horizontal lines every 20% (both plots' y runs 0..1) and the x ticks."""
    parts = []
    for step in range(6):
        y = BOTTOM - PLOT_HEIGHT * step / 5
        parts.append(_line(LEFT, y, right, y, "#ddd"))
        parts.append(_text(LEFT - 6, y + 4, f"{step / 5:.1f}", "end"))
    for tick in x_ticks:
        parts.append(_line(x(tick), TOP, x(tick), BOTTOM, "#eee"))
        parts.append(_text(x(tick), BOTTOM + 16, x_fmt(tick), "middle"))
    return parts


def _y(value: float) -> float:
    return BOTTOM - PLOT_HEIGHT * value


def usd(value: float) -> str:
    """Dollars with three significant digits and no exponent: $0.00009, $0.0123, $12.35."""
    if value == 0:
        return "$0"
    places = max(2, 2 - math.floor(math.log10(abs(value))))
    text = f"{value:.{places}f}"
    return "$" + (text.rstrip("0").rstrip(".") if "." in text else text)


def _nice_step(rough: float) -> float:
    """1, 2 or 5 times a power of ten, at least ``rough``."""
    power = 10.0 ** math.floor(math.log10(rough))
    return next(m * power for m in (1, 2, 5, 10) if m * power >= rough * (1 - 1e-9))


def _log_ticks(first: float, last: float) -> list[float]:
    """The powers of ten between 10**first and 10**last; with fewer than three of them,
    also their 2x and 5x (so a span of one or two decades still has ticks to read)."""
    decades = range(math.floor(first), math.ceil(last) + 1)
    for multiples in ((1,), (1, 2, 5)):
        ticks = [m * 10.0**e for e in decades for m in multiples]
        ticks = [t for t in ticks if first <= math.log10(t) <= last]
        if len(ticks) >= 3:
            break
    return ticks


def _cost_scale(costs: Sequence[float]) -> tuple[Scale, list[float], str]:
    """Log scale (decades) when all costs are positive and spread more than 10x; else
    linear from 0 with round ticks (zero cost, one strategy, or close costs)."""
    left, span = LEFT + 12, WIDTH - RIGHT - LEFT - 24
    # below a billionth of a dollar is free: no tick can show it, and 5e-324 / 4 is 0
    costs = [c if c >= MIN_COST else 0.0 for c in costs]
    low, high = min(costs), max(costs)
    if low > 0 and high / low > LOG_SPREAD:
        # the axis hugs the points (a fifth of a decade each side), not the outer decades
        first, last = math.log10(low) - LOG_MARGIN, math.log10(high) + LOG_MARGIN

        def log_x(value: float) -> float:
            return left + span * (math.log10(max(value, 10.0**first)) - first) / (last - first)

        return log_x, _log_ticks(first, last), "cost per item (USD, log scale)"
    step = _nice_step(high / 4) if high > 0 else 1.0
    top = step * math.ceil(high / step - 1e-9) if high > 0 else 1.0
    ticks = [step * i for i in range(round(top / step) + 1)] if high > 0 else [0.0]

    def lin_x(value: float) -> float:
        return left + span * min(max(value, 0.0), top) / top

    return lin_x, ticks, "cost per item (USD)"


def accuracy_cost(table: Sequence[StrategyStats]) -> str:
    """Accuracy against cost per item, one numbered point per strategy with its 95%
    interval; ``sample`` strategies also show their first-j-samples curve, dashed."""
    shown = [s for s in table if s.n]
    title = "Accuracy against cost per item"
    right = WIDTH - RIGHT
    if not shown:
        body = _frame("cost per item (USD)", "accuracy", right)
        body.append(_text(WIDTH / 2, (TOP + BOTTOM) / 2, "no results yet", "middle"))
        return _document(title, body, [])
    costs = [s.cost_per_item for s in shown] + [p.cost_per_item for s in shown for p in s.curve]
    x, ticks, x_label = _cost_scale(costs)
    body = _frame(x_label, "accuracy", right) + _grid(x, ticks, usd, right)
    legend = []
    for index, s in enumerate(shown):
        body += _point(index, s, x)
        label = f"{index + 1}  {s.spec}: {100 * s.accuracy:.1f}% at {usd(s.cost_per_item)}/item"
        legend.append(_legend(index, label))
    return _document(title, body, legend)


def _point(index: int, s: StrategyStats, x: Scale) -> list[str]:
    colour = _colour(index)
    px, py = x(s.cost_per_item), _y(s.accuracy)
    parts = []
    if s.curve:
        path = " ".join(f"{x(p.cost_per_item):.1f},{_y(p.accuracy):.1f}" for p in s.curve)
        parts.append(
            f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-dasharray="4 3"/>'
        )
    low, high = _y(s.ci_low), _y(s.ci_high)
    return [
        *parts,
        _line(px, low, px, high, colour),
        _line(px - 4, low, px + 4, low, colour),
        _line(px - 4, high, px + 4, high, colour),
        f'<circle cx="{px:.1f}" cy="{py:.1f}" r="4.5" fill="{colour}">'
        f"<title>{escape(s.spec)}</title></circle>",
        _text(px + 7, py - 5, str(index + 1), extra=f' fill="{colour}" font-weight="bold"'),
    ]


def calibration(table: Sequence[StrategyStats]) -> str | None:
    """Reliability curves: per fused strategy, accuracy against mean confidence of each
    non-empty bin, and the diagonal a calibrated strategy follows. None when no strategy
    reported a confidence (there is nothing to draw)."""
    fused = [(s.spec, s.calibration) for s in table if s.calibration and s.calibration.n]
    if not fused:
        return None
    right = _confidence_x(1.0)
    figures = [f"ECE {c.ece:.3f}, Brier {c.brier:.3f}, n={c.n}" for _, c in fused]
    # the square plot, widened only as far as the legend needs (up to the usual width);
    # each strategy's figures on a line under its spec, so the legend stays narrow
    needed = _legend_width([spec + ":" for spec, _ in fused] + ["  " + f for f in figures])
    width = math.ceil(max(right + RIGHT, min(WIDTH, needed)))
    body = _frame("confidence (mean of the bin)", "accuracy", right)
    body += _grid(_confidence_x, [i / 5 for i in range(6)], lambda v: f"{v:.1f}", right)
    body.append(_line(LEFT, _y(0), right, _y(1), "#888", ' stroke-dasharray="5 4"'))
    legend = []
    for index, (spec, result) in enumerate(fused):
        body += _reliability_curve(_colour(index), result)
        legend.append(_legend(index, spec + ":", width, row=2 * index))
        legend.append(_legend(index, "  " + figures[index], width, 2 * index + 1, swatch=False))
    return _document("Calibration: accuracy against confidence", body, legend, width)


def _confidence_x(value: float) -> float:
    """The calibration plot's x: confidence 0..1 across a square plot."""
    return LEFT + PLOT_HEIGHT * value


def _reliability_curve(colour: str, result: Calibration) -> list[str]:
    x = _confidence_x
    points = [(x(b.confidence or 0), _y(b.accuracy or 0)) for b in result.table if b.n]
    path = " ".join(f"{px:.1f},{py:.1f}" for px, py in points)
    return [
        f'<polyline points="{path}" fill="none" stroke="{colour}"/>',
        *(f'<circle cx="{px:.1f}" cy="{py:.1f}" r="3.5" fill="{colour}"/>' for px, py in points),
    ]
