"""A run's figures per strategy (:func:`summarise`): what the report, its JSON and its
pictures show.

Every item a strategy has a result for counts: a failed item (``Outcome.error``) is
counted wrong and shown in the ``errors`` column, so a strategy cannot look better by
failing on hard items. Items not run yet (a run stopped by ``--max-cost``) are left out
and shown as ``missing`` (the CLI's report passes only the items every strategy answered,
so its strategies are compared on the same items). The formulas live in :mod:`.stats`; :mod:`.report` renders this.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Protocol

from orchestra.evaluation import stats
from orchestra.evaluation.grading import vote_key
from orchestra.evaluation.records import Item, Result, Sample
from orchestra.evaluation.voting import vote

#: how a vote reads an item's answers (the grader's key); None: fusion's clusters
Key = Callable[[str], str | None]


class StrategyLike(Protocol):
    """What the report needs of a strategy (``strategies.Strategy`` has it)."""

    @property
    def spec(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def models(self) -> tuple[str, ...]: ...
    @property
    def k(self) -> int: ...
    @property
    def fused(self) -> bool: ...


@dataclass
class Paired:
    """This strategy against the best single model on the items both have a result for."""

    baseline: str
    n: int
    #: items only this strategy got right / only the baseline got right
    b: int
    c: int
    #: accuracy difference on those items: (b - c) / n
    delta: float
    p: float


@dataclass
class Matched:
    """The best accuracy any strategy reaches at no more cost per item than this one."""

    best: str
    accuracy: float
    #: no other strategy is at least as cheap and at least as accurate (one strictly)
    pareto: bool


@dataclass
class CurvePoint:
    """A ``sample`` strategy cut to its first ``samples`` answers, voted."""

    samples: int
    cost_per_item: float
    n: int
    accuracy: float


@dataclass
class RoundStats:
    round: int
    #: items with a graded answer in this round
    n: int
    #: mean over participants of their accuracy in this round
    participant_accuracy: float
    #: accuracy of the round's majority answer (ties: the earliest answer's cluster)
    majority_accuracy: float


@dataclass
class Flips:
    """A participant's changes from round ``start`` to the next round (``end``), summed
    over the items where it answered in both."""

    participant: str
    start: int
    end: int
    right_to_wrong: int
    wrong_to_right: int


@dataclass
class DebateStats:
    rounds: list[RoundStats]
    flips: list[Flips]
    final_accuracy: float


@dataclass
class StrategyStats:
    spec: str
    kind: str
    fused: bool
    #: items with a result (errors included); ``missing``: items without one yet
    n: int
    missing: int
    correct: int
    errors: int
    accuracy: float
    ci_low: float
    ci_high: float
    cost_usd: float
    cost_per_item: float
    #: grading's own spend (judge calls), not part of the strategy's cost
    grading_cost_usd: float
    tokens_per_item: float
    calls_per_item: float
    #: over answered items (failures' wall time says little about the strategy)
    p50_ms: float | None
    p95_ms: float | None
    #: judge-graded items: the mean judge score (0..1) and how many items it is over;
    #: ``bias``: mean score with the answer shown first minus shown second (position bias)
    score: float | None = None
    judged: int = 0
    bias: float | None = None
    paired: Paired | None = None
    matched: Matched | None = None
    curve: list[CurvePoint] = field(default_factory=list)
    calibration: stats.Calibration | None = None
    agreement: list[stats.Level] = field(default_factory=list)
    debate: DebateStats | None = None
    #: failed items a rerun asks again (429, 5xx, timeouts): counted wrong until then
    retryable: int = 0
    #: answers cut off at ``--max-tokens`` (``finish_reason == "length"``)
    truncated: int = 0
    #: routed strategies (``auto:*``) answered by more than one model: model -> answers
    answered_by: dict[str, int] = field(default_factory=dict)


@dataclass
class Summary:
    items: int
    #: the best single model (by accuracy; ties: cheaper) the others are compared with;
    #: never a routed ``auto:*`` strategy (the router picks among models: not one model)
    baseline: str | None
    strategies: list[StrategyStats]
    #: McNemar tests actually made (strategies with an item in common with the baseline),
    #: and the Bonferroni-corrected bar for them: 0.05 / comparisons (None: none made)
    comparisons: int = 0
    threshold: float | None = None

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)


def summarise(
    strategies: Sequence[StrategyLike],
    items: Sequence[Item | str],
    results: Mapping[tuple[str, str], Result],
) -> Summary:
    """Everything the report shows, from the results of ``items`` (or their ids) under
    ``strategies``."""
    ids = [item if isinstance(item, str) else item.id for item in items]
    # votes read answers as the grader does (given the items; by fusion's clusters if not)
    keys = {item.id: vote_key(item) for item in items if not isinstance(item, str)}
    rows = {
        s.spec: [results[(s.spec, i)] for i in ids if (s.spec, i) in results] for s in strategies
    }
    table = [_basic(s, rows[s.spec], len(ids)) for s in strategies]
    baseline = _baseline([t for s, t in zip(strategies, table, strict=True) if not _routed(s)])
    for strategy, entry in zip(strategies, table, strict=True):
        own = rows[strategy.spec]
        if baseline is not None and entry.spec != baseline.spec:
            entry.paired = _paired(own, rows[baseline.spec], baseline.spec)
        entry.matched = _matched(entry, table)
        if strategy.kind == "sample":
            entry.curve = _curve(own, strategy.k, entry.cost_per_item, keys)
        if strategy.fused:
            _fused(entry, own)
        if strategy.kind == "debate":
            entry.debate = _debate(own, entry.accuracy, keys)
    made = sum(1 for entry in table if entry.paired is not None and entry.paired.n)
    threshold = stats.bonferroni(0.05, made) if made else None
    return Summary(len(ids), baseline.spec if baseline else None, table, made, threshold)


def _routed(strategy: StrategyLike) -> bool:
    """``auto`` and ``auto:PROFILE``: the router picks a model per item, so the strategy is
    not "a single model" and never the baseline."""
    return any(m == "auto" or m.startswith("auto:") for m in strategy.models)


def _answered_by(rows: Sequence[Result]) -> dict[str, int]:
    """Which models answered a single strategy, how often: shown when more than one did."""
    counts: dict[str, int] = {}
    for row in rows:
        if row.outcome.model is not None and row.outcome.error is None:
            counts[row.outcome.model] = counts.get(row.outcome.model, 0) + 1
    if len(counts) < 2:
        return {}
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def _basic(strategy: StrategyLike, rows: Sequence[Result], total: int) -> StrategyStats:
    n = len(rows)
    correct = sum(1 for r in rows if r.correct)
    low, high = stats.wilson(correct, n)
    cost = sum(r.outcome.cost_usd for r in rows)
    latencies = [r.outcome.latency_ms for r in rows if r.outcome.error is None]
    per = 1 / n if n else 0.0
    score, judged, bias = _judged(rows)
    return StrategyStats(
        spec=strategy.spec,
        kind=strategy.kind,
        fused=strategy.fused,
        n=n,
        missing=total - n,
        correct=correct,
        errors=sum(1 for r in rows if r.outcome.error is not None),
        accuracy=correct / n if n else 0.0,
        ci_low=low,
        ci_high=high,
        cost_usd=cost,
        cost_per_item=cost * per,
        grading_cost_usd=sum(r.grade.cost_usd for r in rows if r.grade is not None),
        tokens_per_item=per
        * sum(r.outcome.prompt_tokens + r.outcome.completion_tokens for r in rows),
        calls_per_item=per * sum(r.outcome.calls for r in rows),
        p50_ms=stats.percentile(latencies, 50) if latencies else None,
        p95_ms=stats.percentile(latencies, 95) if latencies else None,
        score=score,
        judged=judged,
        bias=bias,
        retryable=sum(1 for r in rows if r.outcome.error is not None and r.outcome.retryable),
        truncated=sum(1 for r in rows if r.outcome.finish_reason == "length"),
        answered_by=_answered_by(rows) if strategy.kind == "single" else {},
    )


def _judged(rows: Sequence[Result]) -> tuple[float | None, int, float | None]:
    """Mean judge score over the judge-graded rows, how many, and the judge's position bias
    (mean score of the answer shown first minus shown second)."""
    grades = [r.grade for r in rows if r.grade is not None and r.grade.judge is not None]
    if not grades:
        return None, 0, None
    orders = [g.orders for g in grades if g.orders is not None and len(g.orders) == 2]
    bias = sum(first - second for first, second in orders) / len(orders) if orders else None
    return sum(g.score for g in grades) / len(grades), len(grades), bias


def _baseline(table: Sequence[StrategyStats]) -> StrategyStats | None:
    """The best single model measured on these items. Picked as the best on the same
    items it is then compared on, its accuracy is flattered by the pick (winner's curse):
    the report says so."""
    singles = [s for s in table if s.kind == "single" and s.n]
    if not singles:
        return None
    # the most accurate; among equals the cheaper; then the first given
    return min(singles, key=lambda s: (-s.accuracy, s.cost_per_item))


def _paired(own: Sequence[Result], base: Sequence[Result], spec: str) -> Paired:
    theirs = {r.item: r.correct for r in base}
    pairs = [(r.correct, theirs[r.item]) for r in own if r.item in theirs]
    b = sum(1 for mine, other in pairs if mine and not other)
    c = sum(1 for mine, other in pairs if other and not mine)
    n = len(pairs)
    return Paired(spec, n, b, c, (b - c) / n if n else 0.0, stats.mcnemar(b, c))


def _matched(entry: StrategyStats, table: Sequence[StrategyStats]) -> Matched:
    cheaper = [s for s in table if s.n and s.cost_per_item <= entry.cost_per_item]
    if not cheaper:  # nothing measured at this cost, not even this strategy
        return Matched(entry.spec, entry.accuracy, pareto=False)
    best = min(cheaper, key=lambda s: (-s.accuracy, s.cost_per_item, s is not entry))
    dominated = any(
        s is not entry
        and s.cost_per_item <= entry.cost_per_item
        and s.accuracy >= entry.accuracy
        and (s.cost_per_item < entry.cost_per_item or s.accuracy > entry.accuracy)
        for s in cheaper
    )
    return Matched(best.spec, best.accuracy, entry.n > 0 and not dominated)


def _curve(
    rows: Sequence[Result], k: int, cost_per_item: float, keys: Mapping[str, Key | None]
) -> list[CurvePoint]:
    """Vote accuracy of the first j samples, j = 1..k, at j/k of the strategy's cost: the
    strategy's own vote (:mod:`.voting`), so j = k is its accuracy. Failed items count wrong
    at every j, as in the accuracy column; items whose winning answer was never graded
    (judge items) are left out."""
    points = []
    for j in range(1, k + 1):
        outcomes: list[bool] = []
        for row in rows:
            winner = vote(row.outcome.samples[:j], key=keys.get(row.item)).winner
            if row.outcome.error is not None or winner is None:
                outcomes.append(False)
            elif winner.correct is not None:
                outcomes.append(winner.correct)
        accuracy = sum(outcomes) / len(outcomes) if outcomes else 0.0
        points.append(CurvePoint(j, cost_per_item * j / k, len(outcomes), accuracy))
    return points


def _fused(entry: StrategyStats, rows: Sequence[Result]) -> None:
    graded = [r for r in rows if r.grade is not None]
    confidence = [(r.outcome.confidence, r.correct) for r in graded]
    agreement = [(r.outcome.agreement, r.correct) for r in graded]
    entry.calibration = stats.calibration([(c, y) for c, y in confidence if c is not None])
    entry.agreement = stats.by_agreement([(a, y) for a, y in agreement if a is not None])


def _debate(
    rows: Sequence[Result], final_accuracy: float, keys: Mapping[str, Key | None]
) -> DebateStats:
    # per item: round -> participant -> correct (graded answers only); a model sits in a
    # debate once (the gateway refuses a participant listed twice), so it names its seat
    grid: list[dict[int, dict[str, bool]]] = []
    majority: dict[int, list[bool]] = {}
    for row in rows:
        by_round: dict[int, list[Sample]] = {}
        for sample in row.outcome.samples:
            if sample.round is not None:
                by_round.setdefault(sample.round, []).append(sample)
        grid.append(
            {
                number: {str(s.model): s.correct for s in turns if s.correct is not None}
                for number, turns in by_round.items()
            }
        )
        for number, turns in by_round.items():
            winner = vote(turns, key=keys.get(row.item)).winner
            if winner is not None and winner.correct is not None:
                majority.setdefault(number, []).append(winner.correct)
    numbers = sorted({n for item in grid for n in item})
    rounds = [_round(number, grid, majority.get(number, [])) for number in numbers]
    flips = [f for a, b in itertools.pairwise(numbers) for f in _flips(grid, a, b)]
    return DebateStats(rounds, flips, final_accuracy)


def _round(
    number: int, grid: Sequence[dict[int, dict[str, bool]]], votes: list[bool]
) -> RoundStats:
    answers: dict[str, list[bool]] = {}
    for item in grid:
        for participant, correct in item.get(number, {}).items():
            answers.setdefault(participant, []).append(correct)
    means = [sum(v) / len(v) for v in answers.values()]
    return RoundStats(
        round=number,
        n=sum(1 for item in grid if item.get(number)),
        participant_accuracy=sum(means) / len(means) if means else 0.0,
        majority_accuracy=sum(votes) / len(votes) if votes else 0.0,
    )


def _flips(grid: Sequence[dict[int, dict[str, bool]]], start: int, end: int) -> list[Flips]:
    counts: dict[str, list[int]] = {}
    for item in grid:
        before, after = item.get(start, {}), item.get(end, {})
        for participant in before.keys() & after.keys():
            tally = counts.setdefault(participant, [0, 0])
            tally[0] += before[participant] and not after[participant]
            tally[1] += after[participant] and not before[participant]
    return [Flips(p, start, end, rw, wr) for p, (rw, wr) in sorted(counts.items())]
