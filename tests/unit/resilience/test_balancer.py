"""Load balancing: each strategy's choice (deterministic), cooling steering, pinning, traces."""

from __future__ import annotations

import logging
from collections import Counter
from typing import get_args

import pytest
from pydantic import ValidationError

from orchestra.catalog.deployments import DeploymentGroupEntry, Deployments
from orchestra.catalog.models import Catalog, ModelInfo
from orchestra.config import LbStrategy, Settings
from orchestra.resilience.balancer import Balancer
from orchestra.resilience.deployment_stats import DeploymentStats
from orchestra.resilience.strategies import COMPOSITE_WEIGHTS
from orchestra.routing.router import Candidate, RoutePlan

IDS = ("a/m", "b/m", "c/m")


class Clock:
    now = 100.0

    def __call__(self) -> float:
        return self.now


class Breakers:
    """A breaker's cached views, as the strategies read them."""

    def __init__(self, **states: str) -> None:
        self.states = {k.replace("_", "/"): v for k, v in states.items()}

    def states_of(self, model_ids: list[str]) -> list[str]:
        return [self.states.get(m, "closed") for m in model_ids]


def _model(model_id: str, latency_ms: float = 1000.0) -> ModelInfo:
    return ModelInfo(
        id=model_id, context_window=8000, input_price=0, output_price=0, quality=1200,
        latency_ms=latency_ms, upstream_model="m",
    )  # fmt: skip


def _plan(*ids: str, group: str = "m", pinned: bool = False, table=None) -> RoutePlan:
    candidates = [Candidate(_model(i), 1.0, {}, group) for i in ids]
    return RoutePlan("balanced", None, 10, candidates, pinned=pinned, table=table)


def _order(balancer: Balancer, *ids: str, **kw) -> list[str]:
    plan = _plan(*(ids or IDS), **kw)
    balancer.order(plan)
    return [c.model.id for c in plan.candidates]


def _balancer(strategy: str, breaker=None) -> tuple[Balancer, DeploymentStats, Clock]:
    clock = Clock()
    stats = DeploymentStats(clock=clock)
    return Balancer(stats, breaker, strategy=strategy), stats, clock


def _weighted_table(weights: dict[str, float], strategy: str | None = None):
    catalog = Catalog([_model(i) for i in weights])
    entry = DeploymentGroupEntry.model_validate(
        {
            "strategy": strategy,
            "targets": [{"provider": i.split("/")[0], "weight": w} for i, w in weights.items()],
        }
    )
    return Deployments({"m": entry}).table(list(catalog), catalog)


def test_round_robin_takes_turns_in_id_order():
    balancer, _, _ = _balancer("round_robin")
    # the router's order changes nothing: turns follow the sorted ids
    firsts = [_order(balancer, "c/m", "a/m", "b/m")[0] for _ in range(6)]
    assert firsts == ["a/m", "b/m", "c/m", "a/m", "b/m", "c/m"]


def test_weighted_is_smooth_and_exact():
    balancer, _, _ = _balancer("composite")  # the group's own strategy wins
    table = _weighted_table({"a/m": 3.0, "b/m": 1.0}, strategy="weighted")
    firsts = [_order(balancer, "a/m", "b/m", table=table)[0] for _ in range(40)]
    assert firsts[:4] == ["a/m", "a/m", "b/m", "a/m"]  # interleaved, not AAAB bursts
    assert Counter(firsts) == {"a/m": 30, "b/m": 10}


def test_least_latency_prefers_the_fastest_first_token():
    balancer, stats, _ = _balancer("least_latency")
    for _ in range(3):
        stats.succeeded("a/m", 0.9, streamed=True)
        stats.succeeded("b/m", 0.3, streamed=True)
    # c/m has no observation: its catalog latency (1 s) stands in
    assert _order(balancer) == ["b/m", "a/m", "c/m"]


def test_least_latency_uses_the_catalog_when_nothing_is_known():
    balancer, _, _ = _balancer("least_latency")
    plan = RoutePlan(
        "balanced",
        None,
        10,
        [
            Candidate(_model("a/m", 900.0), 1.0, {}, "m"),
            Candidate(_model("b/m", 200.0), 1.0, {}, "m"),
        ],
    )
    balancer.order(plan)
    assert [c.model.id for c in plan.candidates] == ["b/m", "a/m"]
    assert plan.balancing[0]["candidates"][1]["score"] == pytest.approx(0.222, abs=1e-3)


def test_error_aware_moves_failing_and_broken_deployments_back():
    breaker = Breakers(c_m="half_open")
    balancer, stats, _ = _balancer("error_aware", breaker)
    stats.failed("a/m")
    stats.succeeded("b/m", 0.5, streamed=True)
    assert _order(balancer) == ["b/m", "a/m", "c/m"]


def test_least_outstanding_prefers_the_idlest():
    balancer, stats, _ = _balancer("least_outstanding")
    stats.started("a/m")
    stats.started("a/m")
    stats.started("b/m")
    assert _order(balancer) == ["c/m", "b/m", "a/m"]


def test_composite_ties_keep_the_routers_order():
    balancer, _, _ = _balancer("composite")
    assert _order(balancer, "b/m", "c/m", "a/m") == ["b/m", "c/m", "a/m"]


def test_composite_weighs_latency_errors_and_load():
    balancer, stats, _ = _balancer("composite", Breakers())
    for _ in range(5):
        stats.succeeded("a/m", 0.2, streamed=True)  # fast
        stats.succeeded("b/m", 0.2, streamed=True)
        stats.failed("b/m")  # ... but failing half the time
        stats.succeeded("c/m", 0.8, streamed=True)  # slow
    assert _order(balancer)[0] == "a/m"
    plan = _plan(*IDS)
    balancer.order(plan)
    scores = {c["deployment"]: c["score"] for c in plan.balancing[0]["candidates"]}
    perfect = sum(COMPOSITE_WEIGHTS.values())
    assert scores["a/m"] == pytest.approx(perfect, abs=1e-3)
    assert scores["c/m"] < scores["a/m"] and scores["b/m"] < scores["a/m"]


def test_composite_puts_a_broken_breaker_behind():
    balancer, stats, _ = _balancer("composite", Breakers(a_m="half_open"))
    stats.succeeded("a/m", 0.01, streamed=True)  # the fastest, but half-open
    assert _order(balancer)[-1] == "a/m"


@pytest.mark.parametrize("strategy", list(get_args(LbStrategy)))
def test_a_cooling_deployment_goes_behind_in_every_strategy(strategy):
    balancer, stats, clock = _balancer(strategy, Breakers())
    stats.succeeded("a/m", 0.05, streamed=True)  # the best on every score ...
    stats.observe_headers(
        "a/m", 200, {"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "1s"}
    )  # ... but out of quota for a second
    for _ in range(4):
        assert _order(balancer)[-1] == "a/m"
    plan = _plan(*IDS)
    balancer.order(plan)
    assert plan.balancing[0]["candidates"][-1] == {
        "deployment": "a/m",
        "score": plan.balancing[0]["candidates"][-1]["score"],
        "cooling": True,
    }
    # once the quota resets it is a candidate like the others again
    clock.now += 1.01
    assert any(_order(balancer)[0] == "a/m" for _ in range(3))


def test_a_pinned_deployment_stays_first():
    balancer, stats, _ = _balancer("least_latency")
    stats.succeeded("c/m", 0.01, streamed=True)
    stats.succeeded("a/m", 5.0, streamed=True)
    plan = _plan("a/m", "b/m", "c/m", pinned=True)
    balancer.order(plan)
    assert [c.model.id for c in plan.candidates] == ["a/m", "c/m", "b/m"]
    trace = plan.balancing[0]
    assert trace["candidates"][0] == {"deployment": "a/m", "pinned": True}
    assert trace["choice"] == "a/m"


def test_each_group_is_ordered_on_its_own_and_singles_are_untouched():
    balancer, stats, _ = _balancer("least_latency")
    stats.succeeded("y/n", 0.1, streamed=True)
    candidates = [
        Candidate(_model("x/solo"), 3.0, {}),
        Candidate(_model("a/m"), 2.0, {}, "m"),
        Candidate(_model("b/m", 100.0), 2.0, {}, "m"),
        Candidate(_model("x/n"), 1.0, {}, "n"),
        Candidate(_model("y/n"), 1.0, {}, "n"),
    ]
    plan = RoutePlan("balanced", None, 10, candidates)
    balancer.order(plan)
    assert [c.model.id for c in plan.candidates] == ["x/solo", "b/m", "a/m", "y/n", "x/n"]
    assert [t["model"] for t in plan.balancing] == ["m", "n"]
    assert plan.explain("b/m")["deployments"] == plan.balancing


def test_trace_shape_and_no_trace_for_a_lone_deployment():
    balancer, _, _ = _balancer("round_robin")
    plan = _plan("a/m", "b/m")
    balancer.order(plan)
    assert plan.balancing == [
        {
            "model": "m",
            "strategy": "round_robin",
            "candidates": [
                {"deployment": "a/m", "score": 1.0},
                {"deployment": "b/m", "score": 0.5},
            ],
            "choice": "a/m",
        }
    ]
    lone = _plan("a/m")
    balancer.order(lone)
    assert lone.balancing == [] and "deployments" not in lone.explain("a/m")


def test_the_decision_is_logged_at_debug(caplog):
    balancer, _, _ = _balancer("round_robin")
    with caplog.at_level(logging.DEBUG, logger="orchestra.balancer"):
        _order(balancer)
    lines = [r.getMessage() for r in caplog.records if r.name == "orchestra.balancer"]
    assert lines == ["deployment of m by round_robin: a/m (a/m=1.0, b/m=0.667, c/m=0.333)"]


def test_unknown_strategies_are_refused():
    with pytest.raises(ValueError, match="unknown load-balancing strategy 'fastest'"):
        Balancer(DeploymentStats(), strategy="fastest")
    with pytest.raises(ValidationError, match="lb_strategy"):
        Settings(lb_strategy="fastest")


def test_every_configurable_strategy_exists():
    balancer = Balancer(DeploymentStats())
    assert set(balancer.strategies) == set(get_args(LbStrategy))
