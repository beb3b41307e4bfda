"""The statistics of a report: intervals, a paired test, percentiles and calibration.

Pure functions on plain numbers (no numpy/scipy: the formulas are short and exact with
:mod:`math`), so each can be checked against values computed by hand.

- :func:`wilson`: a 95% interval for an accuracy that stays inside [0, 1] and behaves at
  small n and near 0% or 100% (the normal "p +- 1.96 se" interval does not);
- :func:`mcnemar`: whether two strategies differ on the *same* items, from the items where
  exactly one of them is right (the exact binomial test, no large-sample approximation);
- :func:`percentile`: latency p50/p95 by linear interpolation (numpy's default);
- :func:`calibration`: whether a fused strategy's ``confidence`` means what it says
  (reliability table, expected calibration error, Brier score);
- :func:`by_agreement`: accuracy at each level of agreement between the fused answers.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

#: the normal quantile of a two-sided 95% interval
Z95 = 1.959963984540054


def wilson(correct: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval for ``correct`` successes in ``n`` trials.

    With p = correct/n::

        centre    = (p + z^2/(2n)) / (1 + z^2/n)
        halfwidth = z * sqrt(p(1-p)/n + z^2/(4n^2)) / (1 + z^2/n)

    e.g. 8/10 -> (0.4902, 0.9433). ``n == 0`` says nothing: (0.0, 1.0).
    """
    if n < 0 or not 0 <= correct <= n:
        raise ValueError(f"wilson: need 0 <= correct <= n, got {correct}/{n}")
    if n == 0:
        return (0.0, 1.0)
    p = correct / n
    z2 = z * z
    denominator = 1 + z2 / n
    centre = (p + z2 / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / denominator
    # the interval holds p exactly; rounding would leave 0/3's low at 5.6e-17 above 0%
    return (max(0.0, min(p, centre - half)), min(1.0, max(p, centre + half)))


def mcnemar(b: int, c: int) -> float:
    """Exact two-sided McNemar p-value from the discordant pairs.

    ``b``: items only the first strategy got right; ``c``: items only the second got right.
    Under "no difference" each discordant item is a fair coin, so with n = b + c::

        p = min(1, 2 * sum_{i=0}^{min(b,c)} C(n, i) / 2^n)

    e.g. b=1, c=9 -> 22/1024 = 0.0215. No discordant pair (b + c == 0) -> 1.0. Items both
    got right or both got wrong carry no information about which is better.
    """
    if b < 0 or c < 0:
        raise ValueError(f"mcnemar: counts must be >= 0, got b={b}, c={c}")
    n = b + c
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, i) for i in range(min(b, c) + 1))
    return min(1.0, 2 * tail / (1 << n))


def bonferroni(alpha: float, comparisons: int) -> float:
    """The bar each of ``comparisons`` tests must pass so that the chance of any passing
    by luck stays under ``alpha``: ``alpha / comparisons`` (3 tests at 0.05 -> 0.0167)."""
    if comparisons < 1:
        raise ValueError(f"bonferroni: comparisons must be >= 1, got {comparisons}")
    return alpha / comparisons


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0..100) by linear interpolation between closest ranks.

    With the values sorted as x_0..x_{n-1}: rank r = (n-1) q/100, and the result is
    x_floor(r) + (r - floor(r)) (x_ceil(r) - x_floor(r)) (numpy's default "linear").
    """
    if not values:
        raise ValueError("percentile of no values")
    if not 0 <= q <= 100:
        raise ValueError(f"percentile: q must be in 0..100, got {q}")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (rank - low) * (ordered[high] - ordered[low])


@dataclass(frozen=True)
class Bin:
    """One row of a reliability table: answers whose confidence fell in [low, high)."""

    low: float
    high: float
    n: int
    #: mean confidence of the bin's answers (None when the bin is empty)
    confidence: float | None
    #: share of them that were right (None when the bin is empty)
    accuracy: float | None


@dataclass(frozen=True)
class Calibration:
    table: list[Bin]
    #: expected calibration error: sum over bins of n_b/N * |accuracy_b - confidence_b|
    ece: float
    #: mean squared error of the confidence as a probability: mean((c - y)^2), y in {0, 1}
    brier: float
    #: answers measured
    n: int


def calibration(pairs: Sequence[tuple[float, bool]], bins: int = 10) -> Calibration:
    """Reliability table, ECE and Brier score of (confidence, correct) pairs.

    Bins are equal-width on [0, 1]: bin i holds confidences in [i/bins, (i+1)/bins), the
    last bin also 1.0. A confidence outside [0, 1] is clamped (a gateway bug should show in
    the table, not crash the report). A calibrated strategy has accuracy ~= confidence in
    every bin: ECE 0. Brier mixes calibration with sharpness: 0 is perfect, 0.25 is what
    always saying 0.5 scores. No pairs -> ECE and Brier 0 with n = 0.
    """
    if bins < 1:
        raise ValueError(f"calibration: bins must be >= 1, got {bins}")
    members: list[list[tuple[float, bool]]] = [[] for _ in range(bins)]
    squared = 0.0
    for raw, correct in pairs:
        confidence = min(1.0, max(0.0, raw))
        # + 1e-9: a share like 3/5 computed in floating point belongs to bin 6 exactly
        members[min(int(confidence * bins + 1e-9), bins - 1)].append((confidence, correct))
        squared += (confidence - float(correct)) ** 2
    total = len(pairs)
    table: list[Bin] = []
    ece = 0.0
    for index, inside in enumerate(members):
        low, high = index / bins, (index + 1) / bins
        if not inside:
            table.append(Bin(low, high, 0, None, None))
            continue
        mean_confidence = sum(c for c, _ in inside) / len(inside)
        accuracy = sum(1 for _, y in inside if y) / len(inside)
        table.append(Bin(low, high, len(inside), mean_confidence, accuracy))
        ece += len(inside) / total * abs(accuracy - mean_confidence)
    return Calibration(table, ece, squared / total if total else 0.0, total)


@dataclass(frozen=True)
class Level:
    """Answers whose agreement (the winning cluster's share) was ``agreement``."""

    agreement: float
    n: int
    accuracy: float


def by_agreement(pairs: Sequence[tuple[float, bool]], places: int = 2) -> list[Level]:
    """Accuracy at each agreement level, lowest first.

    Agreement of a vote is a share of k answers (3/5 = 0.6), so its levels are few; values
    are rounded to ``places`` decimals so 2/3 from two runs lands on one level.
    """
    groups: dict[float, list[bool]] = {}
    for agreement, correct in pairs:
        groups.setdefault(round(agreement, places), []).append(correct)
    return [
        Level(level, len(answers), sum(answers) / len(answers))
        for level, answers in sorted(groups.items())
    ]
