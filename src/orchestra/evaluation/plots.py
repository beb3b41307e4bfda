"""The report's pictures as hand-written SVG: accuracy against cost, and calibration.

SVG text needs no plotting library (matplotlib would be a heavy dependency for two
charts), renders in any browser and on GitHub, and diffs as text. Each function returns
the document as a string; labels are XML-escaped (a strategy spec is user input).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from xml.sax.saxutils import escape, quoteattr

from orchestra.evaluation.summary import StrategyStats

WIDTH, HEIGHT = 760, 460
LEFT, RIGHT, TOP, BOTTOM = 70, 200, 40, 60
#: colour-blind-safe palette (Okabe-Ito), cycled
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000")
#: use a log cost axis when the dearest strategy costs more than this many times the cheapest
LOG_SPREAD = 10.0

Scale = Callable[[float], float]


def _header(title: str) -> list[str]:
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">',
        f'<rect width="{WIDTH}" height="{HEIGHT}" fill="white"/>',
        f'<text x="{WIDTH / 2:.0f}" y="22" text-anchor="middle" font-size="15">'
        f"{escape(title)}</text>",
    ]


def _text(x: float, y: float, text: str, anchor: str = "start", extra: str = "") -> str:
    return f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}"{extra}>{escape(text)}</text>'


def _line(x1: float, y1: float, x2: float, y2: float, stroke: str, extra: str = "") -> str:
    return (
        f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" stroke="{stroke}"{extra}/>'
    )


def _frame(x_label: str, y_label: str, right: float = WIDTH - RIGHT) -> list[str]:
    bottom = HEIGHT - BOTTOM
    mid_y = (TOP + bottom) / 2
    return [
        f'<rect x="{LEFT}" y="{TOP}" width="{right - LEFT}" height="{bottom - TOP}" '
        'fill="none" stroke="#444"/>',
        _text((LEFT + right) / 2, HEIGHT - 18, x_label, "middle"),
        _text(18, mid_y, y_label, "middle", f' transform="rotate(-90 18 {mid_y:.1f})"'),
    ]


def _y_axis(
    y: Scale, ticks: Sequence[float], fmt: Callable[[float], str], right: float = WIDTH - RIGHT
) -> list[str]:
    parts = []
    for tick in ticks:
        parts.append(_line(LEFT, y(tick), right, y(tick), "#ddd"))
        parts.append(_text(LEFT - 6, y(tick) + 4, fmt(tick), "end"))
    return parts


def _x_axis(x: Scale, ticks: Sequence[float], fmt: Callable[[float], str]) -> list[str]:
    parts = []
    for tick in ticks:
        parts.append(_line(x(tick), TOP, x(tick), HEIGHT - BOTTOM, "#eee"))
        parts.append(_text(x(tick), HEIGHT - BOTTOM + 16, fmt(tick), "middle"))
    return parts


def _usd(value: float) -> str:
    return "$0" if value == 0 else f"${value:.2g}"


def _cost_scale(costs: Sequence[float]) -> tuple[Scale, list[float], str]:
    """Log scale (decades) when all costs are positive and spread more than 10x; else
    linear from 0 (zero cost, one strategy, or close costs)."""
    span = WIDTH - RIGHT - LEFT - 20
    low, high = min(costs), max(costs)
    if low > 0 and high / low > LOG_SPREAD:
        first, last = math.floor(math.log10(low)), math.ceil(math.log10(high))
        ticks = [10.0**e for e in range(first, last + 1)]

        def log_x(value: float) -> float:
            value = max(value, 10.0**first)
            return LEFT + 10 + span * (math.log10(value) - first) / (last - first)

        return log_x, ticks, "cost per item (USD, log scale)"
    top = high * 1.1 if high > 0 else 1.0
    ticks = [top * i / 4 for i in range(5)] if high > 0 else [0.0]

    def lin_x(value: float) -> float:
        return LEFT + 10 + span * value / top

    return lin_x, ticks, "cost per item (USD)"


def accuracy_cost(table: Sequence[StrategyStats]) -> str:
    """Accuracy (%, with its 95% interval) against cost per item, one labelled point per
    strategy; ``sample`` strategies also show their first-j-samples curve, dashed."""
    shown = [s for s in table if s.n]
    costs = [s.cost_per_item for s in shown] + [p.cost_per_item for s in shown for p in s.curve]
    parts = _header("Accuracy against cost per item")
    if not shown:
        parts += _frame("cost per item (USD)", "accuracy (%)")
        parts.append(_text(WIDTH / 2, HEIGHT / 2, "no results yet", "middle"))
        return "\n".join([*parts, "</svg>"]) + "\n"
    x, x_ticks, x_label = _cost_scale(costs)
    parts += _frame(x_label, "accuracy (%)")

    def y(value: float) -> float:
        return HEIGHT - BOTTOM - (HEIGHT - BOTTOM - TOP) * value

    parts += _y_axis(y, [i / 5 for i in range(6)], lambda v: f"{100 * v:.0f}")
    parts += _x_axis(x, x_ticks, _usd)
    for index, s in enumerate(shown):
        parts += _point(s, PALETTE[index % len(PALETTE)], x, y)
    return "\n".join([*parts, "</svg>"]) + "\n"


def _point(s: StrategyStats, colour: str, x: Scale, y: Scale) -> list[str]:
    px, py = x(s.cost_per_item), y(s.accuracy)
    parts = []
    if s.curve:
        path = " ".join(f"{x(p.cost_per_item):.1f},{y(p.accuracy):.1f}" for p in s.curve)
        parts.append(
            f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-dasharray="4 3"/>'
        )
    low, high = y(s.ci_low), y(s.ci_high)
    parts += [
        _line(px, low, px, high, colour),
        _line(px - 4, low, px + 4, low, colour),
        _line(px - 4, high, px + 4, high, colour),
        f'<circle cx="{px:.1f}" cy="{py:.1f}" r="4.5" fill="{colour}">'
        f"<title>{escape(s.spec)}</title></circle>",
        _text(px + 8, py - 6, s.spec, extra=f" fill={quoteattr(colour)}"),
    ]
    return parts


def calibration(table: Sequence[StrategyStats]) -> str | None:
    """Reliability curves: per fused strategy, accuracy against mean confidence of each
    non-empty bin, and the diagonal a calibrated strategy follows. None when no strategy
    reported a confidence (no picture to draw)."""
    fused = [s for s in table if s.calibration is not None and s.calibration.n]
    if not fused:
        return None
    size = HEIGHT - BOTTOM - TOP
    parts = _header("Calibration: accuracy against confidence")
    parts += _frame("confidence (mean of the bin)", "accuracy", right=LEFT + size)

    def x(value: float) -> float:
        return LEFT + size * value

    def y(value: float) -> float:
        return HEIGHT - BOTTOM - size * value

    ticks = [i / 5 for i in range(6)]
    parts += _y_axis(y, ticks, lambda v: f"{v:.1f}", right=x(1))
    parts += _x_axis(x, ticks, lambda v: f"{v:.1f}")
    parts.append(_line(x(0), y(0), x(1), y(1), "#888", ' stroke-dasharray="5 4"'))
    for index, s in enumerate(fused):
        assert s.calibration is not None
        colour = PALETTE[index % len(PALETTE)]
        points = [(b.confidence, b.accuracy) for b in s.calibration.table if b.n]
        path = " ".join(f"{x(c or 0):.1f},{y(a or 0):.1f}" for c, a in points)
        parts.append(f'<polyline points="{path}" fill="none" stroke="{colour}"/>')
        parts += [
            f'<circle cx="{x(c or 0):.1f}" cy="{y(a or 0):.1f}" r="3.5" fill="{colour}"/>'
            for c, a in points
        ]
        label = f"{s.spec} (ECE {s.calibration.ece:.3f})"
        legend_y = TOP + 14 + 18 * index
        parts.append(_line(x(1) + 16, legend_y - 4, x(1) + 36, legend_y - 4, colour))
        parts.append(_text(x(1) + 40, legend_y, label, extra=f" fill={quoteattr(colour)}"))
    return "\n".join([*parts, "</svg>"]) + "\n"
