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
from collections.abc import Iterator, Mapping
from itertools import pairwise
from typing import TYPE_CHECKING, Any

from orchestra.resilience.deployment_stats import DeploymentStats
from orchestra.resilience.strategies import Run, Strategy, build_strategies
from orchestra.routing.router import RoutePlan

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
        cooling = signals.cooling
        ranked = _ranked(scores, cooling)
        if ranked is not None:
            candidates[first:end] = [run[k] for k in ranked]
        pin = candidates[start].model.id if pinned else None
        decision = Decision(group, name, pin, ids, scores, ranked, cooling)
        plan.balancing.append(decision)
        if log.isEnabledFor(logging.DEBUG):
            log.debug(
                "deployment of %s by %s: %s (%s)",
                group,
                name,
                decision["choice"],
                ", ".join(f"{c['deployment']}={c.get('score')}" for c in decision["candidates"]),
            )


def _ranked(scores: list[float], cooling: list[bool] | None) -> list[int] | None:
    """Positions best first: cooling ones last, then the higher score, ties in the
    router's order (the sort is stable, reversed too); None when that is the router's
    order already (nothing to move: the common case of scores that tie)."""
    if cooling is None:
        for a, b in pairwise(scores):
            if not a >= b:  # (so that a NaN sorts as before)
                break
        else:
            return None
    ranked = sorted(range(len(scores)), key=scores.__getitem__, reverse=True)
    if cooling is not None:
        ranked = [k for k in ranked if not cooling[k]] + [k for k in ranked if cooling[k]]
    return ranked


class Decision(Mapping[str, Any]):
    """One balancing decision as ``x-orchestra-route`` shows it, best first: ``{"model",
    "strategy", "candidates": [{"deployment", "score", "cooling"?, "pinned"?}], "choice"}``.

    Kept as its inputs and rendered on first read: most requests never send the header's
    trace, and every request would otherwise build these dicts."""

    __slots__ = (
        "_cooling",
        "_group",
        "_ids",
        "_pinned",
        "_ranked",
        "_rendered",
        "_scores",
        "_strategy",
    )

    def __init__(
        self,
        group: str,
        strategy: str,
        pinned: str | None,
        ids: list[str],
        scores: list[float],
        ranked: list[int] | None,
        cooling: list[bool] | None,
    ) -> None:
        self._group, self._strategy, self._pinned = group, strategy, pinned
        self._ids, self._scores, self._ranked, self._cooling = ids, scores, ranked, cooling
        self._rendered: dict[str, Any] | None = None

    def __getitem__(self, key: str) -> Any:
        return self.render()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.render())

    def __len__(self) -> int:
        return 4

    def __repr__(self) -> str:
        return repr(self.render())

    def render(self) -> dict[str, Any]:
        """The decision as a plain dict (made once)."""
        if self._rendered is None:
            self._rendered = self._render()
        return self._rendered

    def _render(self) -> dict[str, Any]:
        ids, scores, cooling = self._ids, self._scores, self._cooling
        ranked = self._ranked if self._ranked is not None else range(len(ids))
        listed: list[dict[str, Any]] = [
            # round(x * scale) / scale: half the time of round(x, 3)
            {"deployment": ids[k], "score": round(scores[k] * SCORE_SCALE) / SCORE_SCALE}
            for k in ranked
        ]
        if cooling is not None:
            for entry, k in zip(listed, ranked, strict=True):
                if cooling[k]:
                    entry["cooling"] = True
        if self._pinned is not None:
            listed.insert(0, {"deployment": self._pinned, "pinned": True})
        return {
            "model": self._group,
            "strategy": self._strategy,
            "candidates": listed,
            "choice": listed[0]["deployment"],
        }
