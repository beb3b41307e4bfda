"""Load balancing: the order of each model's deployments in a route plan.

The router puts a model's deployments next to each other (``Candidate.group``); the
balancer orders each such run by its group's strategy (:mod:`.strategies`): deployments
cooling after a Retry-After or with their quota below the low-water mark go behind the
others, then the higher score first, ties in the router's order. A deployment the client
named (``plan.pinned``) stays first. Each decision is kept in ``plan.balancing`` (sent in
``x-orchestra-route``) and logged at DEBUG on ``orchestra.balancer``.

Everything read here is in process (the stats, the breakers' cached views): no I/O.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from orchestra.resilience.deployment_stats import DeploymentStats
from orchestra.resilience.strategies import Run, Strategy, build_strategies
from orchestra.routing.router import Candidate, RoutePlan

if TYPE_CHECKING:
    from orchestra.resilience.breaker import CircuitBreaker

log = logging.getLogger("orchestra.balancer")

#: the scores in the trace are rounded to 1/SCORE_SCALE (3 decimals)
SCORE_SCALE = 1000.0


class Balancer:
    """``strategy``: the default (``Settings.lb_strategy``); a group of orchestra.yaml may
    name its own. ``breaker``: its cached views feed ``error_aware`` and ``composite``."""

    def __init__(
        self,
        stats: DeploymentStats,
        breaker: CircuitBreaker | None = None,
        *,
        strategy: str = "composite",
        composite_weights: Mapping[str, float] | None = None,
    ) -> None:
        self.stats = stats
        self.strategies: dict[str, Strategy] = build_strategies(stats, breaker, composite_weights)
        if strategy not in self.strategies:
            known = ", ".join(sorted(self.strategies))
            raise ValueError(f"unknown load-balancing strategy {strategy!r} (known: {known})")
        self.default = strategy

    def order(self, plan: RoutePlan) -> None:
        """Reorder each group's run of candidates in place; one trace per run of more than
        one deployment appended to ``plan.balancing``."""
        candidates = plan.candidates
        end = len(candidates)
        i = 0
        while i < end:
            group = candidates[i].group
            j = i + 1
            if group:
                while j < end and candidates[j].group == group:
                    j += 1
                if j - i > 1:
                    self._order_run(plan, group, i, j, pinned=plan.pinned and i == 0)
            i = j

    def _order_run(
        self, plan: RoutePlan, group: str, start: int, end: int, *, pinned: bool
    ) -> None:
        candidates = plan.candidates
        table = plan.table
        name = (table.strategy(group) if table is not None else None) or self.default
        first = start + 1 if pinned else start
        run = candidates[first:end]
        ids = [c.model.id for c in run]
        weights = table.weights(ids) if table is not None else [1.0] * len(ids)
        signals = Run(run, ids, self.stats.states(ids), weights, self.stats.clock())
        scores = self.strategies[name].scores(group, signals)
        ranked = _ranked(scores, signals.cooling)
        candidates[first:end] = [run[k] for k in ranked]
        trace = _trace(group, name, candidates[start] if pinned else None, signals, scores, ranked)
        plan.balancing.append(trace)
        if log.isEnabledFor(logging.DEBUG):
            log.debug(
                "deployment of %s by %s: %s (%s)",
                group,
                name,
                trace["choice"],
                ", ".join(f"{c['deployment']}={c.get('score')}" for c in trace["candidates"]),
            )


def _ranked(scores: list[float], cooling: list[bool]) -> list[int]:
    """Positions best first: cooling ones last, then the higher score, ties in the
    router's order (the sort is stable, reversed too)."""
    ranked = sorted(range(len(scores)), key=scores.__getitem__, reverse=True)
    if any(cooling):
        ranked = [k for k in ranked if not cooling[k]] + [k for k in ranked if cooling[k]]
    return ranked


def _trace(
    group: str,
    strategy: str,
    pinned: Candidate | None,
    run: Run,
    scores: list[float],
    ranked: list[int],
) -> dict[str, Any]:
    """The decision as ``x-orchestra-route`` shows it, best first."""
    ids, cooling = run.ids, run.cooling
    listed: list[dict[str, Any]] = [
        # round(x * scale) / scale: half the time of round(x, 3), ten times per request
        {"deployment": ids[k], "score": round(scores[k] * SCORE_SCALE) / SCORE_SCALE}
        for k in ranked
    ]
    if any(cooling):
        for entry, k in zip(listed, ranked, strict=True):
            if cooling[k]:
                entry["cooling"] = True
    if pinned is not None:
        listed.insert(0, {"deployment": pinned.model.id, "pinned": True})
    return {
        "model": group,
        "strategy": strategy,
        "candidates": listed,
        "choice": listed[0]["deployment"],
    }
