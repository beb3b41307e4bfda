"""The report's statistics against values computed by hand."""

from __future__ import annotations

import pytest

from orchestra.evaluation import stats

# ten (confidence, correct) pairs; with 10 equal-width bins they fall in bins 9, 8, 6, 3, 1
CASE = [
    (0.95, True), (0.95, True),
    (0.85, True), (0.85, False),
    (0.65, True), (0.65, False), (0.65, False),
    (0.35, False), (0.35, True),
    (0.15, False),
]  # fmt: skip


def test_calibration_matches_hand_computed_ece_and_brier() -> None:
    # ECE = sum n_b/N |acc_b - conf_b|:
    #   bin 9: 2/10 |1.0 - 0.95| = 0.010     bin 8: 2/10 |0.5 - 0.85| = 0.070
    #   bin 6: 3/10 |1/3 - 0.65| = 0.095     bin 3: 2/10 |0.5 - 0.35| = 0.030
    #   bin 1: 1/10 |0.0 - 0.15| = 0.015     total                      = 0.220
    # Brier = mean (c - y)^2:
    #   2 x 0.05^2 = 0.005; 0.15^2 + 0.85^2 = 0.745; 0.35^2 + 2 x 0.65^2 = 0.9675;
    #   0.35^2 + 0.65^2 = 0.545; 0.15^2 = 0.0225; sum 2.285 -> 0.2285
    result = stats.calibration(CASE)

    assert result.n == 10
    assert result.ece == pytest.approx(0.22)
    assert result.brier == pytest.approx(0.2285)
    filled = {round(b.low, 1): (b.n, b.confidence, b.accuracy) for b in result.table if b.n}
    assert filled == {
        0.9: (2, pytest.approx(0.95), 1.0),
        0.8: (2, pytest.approx(0.85), 0.5),
        0.6: (3, pytest.approx(0.65), pytest.approx(1 / 3)),
        0.3: (2, pytest.approx(0.35), 0.5),
        0.1: (1, pytest.approx(0.15), 0.0),
    }
    assert len(result.table) == 10
    assert [b.confidence for b in result.table if not b.n] == [None] * 5


def test_calibration_edges_and_perfect_case() -> None:
    # Given confidences on the bin edges, 1.0 in the last bin, and always-right answers at 1.0
    result = stats.calibration([(0.0, False), (1.0, True), (0.1, False), (1.5, True)])

    assert [b.n for b in result.table] == [1, 1, 0, 0, 0, 0, 0, 0, 0, 2]
    assert result.ece == pytest.approx(0.1 * 1 / 4)  # only the 0.1 bin is off, by 0.1
    assert stats.calibration([]).n == 0
    assert stats.calibration([]).ece == 0.0
    with pytest.raises(ValueError):
        stats.calibration(CASE, bins=0)


@pytest.mark.parametrize(
    ("correct", "n", "low", "high"),
    [
        (8, 10, 0.4902, 0.9433),
        (0, 10, 0.0, 0.2775),
        (10, 10, 0.7225, 1.0),
        (45, 50, 0.7864, 0.9565),
    ],
)
def test_wilson_known_values(correct: int, n: int, low: float, high: float) -> None:
    assert stats.wilson(correct, n) == (pytest.approx(low, abs=1e-4), pytest.approx(high, abs=1e-4))


def test_wilson_without_items_says_nothing_and_rejects_bad_counts() -> None:
    assert stats.wilson(0, 0) == (0.0, 1.0)
    with pytest.raises(ValueError):
        stats.wilson(11, 10)


@pytest.mark.parametrize(
    ("b", "c", "p"),
    [(1, 9, 22 / 1024), (9, 1, 22 / 1024), (0, 0, 1.0), (5, 5, 1.0), (0, 6, 2 / 64), (3, 4, 1.0)],
)
def test_mcnemar_exact(b: int, c: int, p: float) -> None:
    assert stats.mcnemar(b, c) == pytest.approx(p)


def test_mcnemar_handles_many_pairs_and_rejects_negative() -> None:
    assert 0 < stats.mcnemar(400, 600) < 1e-9
    with pytest.raises(ValueError):
        stats.mcnemar(-1, 2)


def test_percentile_interpolates_linearly() -> None:
    values = [4.0, 1.0, 3.0, 2.0]
    # sorted 1, 2, 3, 4: rank (n-1) q/100 -> q50 at 1.5 -> 2.5; q95 at 2.85 -> 3.85
    assert stats.percentile(values, 50) == pytest.approx(2.5)
    assert stats.percentile(values, 95) == pytest.approx(3.85)
    assert stats.percentile(values, 0) == 1.0
    assert stats.percentile(values, 100) == 4.0
    assert stats.percentile([7.0], 95) == 7.0
    with pytest.raises(ValueError):
        stats.percentile([], 50)
    with pytest.raises(ValueError):
        stats.percentile(values, 101)


def test_accuracy_by_agreement_groups_rounded_levels() -> None:
    pairs = [(0.6, True), (0.6, False), (1.0, True), (0.6667, True), (2 / 3, False)]

    levels = stats.by_agreement(pairs)

    assert [(lv.agreement, lv.n, lv.accuracy) for lv in levels] == [
        (0.6, 2, 0.5),
        (0.67, 2, 0.5),
        (1.0, 1, 1.0),
    ]


def test_vote_shares_land_in_their_own_bin() -> None:
    # j/k shares on a bin edge (3/10, 7/10, 3/5) go up, as [low, high) says, whatever rounding
    shares = [3 / 10, 7 / 10, 3 / 5, 1 - 0.9]
    table = stats.calibration([(s, True) for s in shares]).table

    assert [b.low for b in table if b.n] == pytest.approx([0.1, 0.3, 0.6, 0.7])


def test_wilson_interval_of_none_right_starts_at_exactly_zero() -> None:
    # found by test_fuzz: rounding put 0/3's lower bound at 5.6e-17, above the 0% observed
    assert stats.wilson(0, 3)[0] == 0.0
    assert stats.wilson(3, 3)[1] == 1.0
