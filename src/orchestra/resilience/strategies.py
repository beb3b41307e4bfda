"""Load-balancing strategies: a score per deployment of one model, higher is better.

Each strategy scores the run of a group's deployments the balancer hands it
(:class:`~orchestra.resilience.balancer.Balancer` sorts by score, cooling deployments
last, ties in the router's order, and reports the scores in ``x-orchestra-route``):

=====================  =====================================================================
strategy               score
=====================  =====================================================================
``round_robin``        1 for the deployment whose turn it is, then down by 1/n in turn
                       order (a counter per group; turn order = deployment ids sorted)
``weighted``           smooth weighted round-robin (nginx's): each deployment's running
                       weight after adding its ``weight``; the highest is chosen and loses
                       the sum of the weights, so 3:1 gives A A B A, deterministically
``least_latency``      fastest / this one's time to first token (EWMA of streamed calls;
                       unknown: the catalog's ``latency_ms``): 1 for the fastest
``error_aware``        1 - decayed error rate (half-life 30 s); a half-open breaker -1, an
                       open one -2 (last)
``least_outstanding``  (fewest calls in flight + 1) / (this one's + 1): 1 for the idlest
``composite``          the weighted sum of the four normalised scores above (latency 0.35,
                       errors 0.35, in flight 0.2, static weight share 0.1); a breaker
                       that is not closed subtracts 1
=====================  =====================================================================
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Protocol

from orchestra.resilience.deployment_stats import DeploymentState, DeploymentStats

if TYPE_CHECKING:
    from orchestra.resilience.breaker import CircuitBreaker
    from orchestra.routing.router import Candidate

#: composite's default weights (``Balancer(composite_weights=...)`` overrides them)
COMPOSITE_WEIGHTS: Mapping[str, float] = {
    "latency": 0.35,
    "errors": 0.35,
    "outstanding": 0.2,
    "weight": 0.1,
}
_BREAKER_PENALTY = {"closed": 0.0, "half_open": 1.0, "open": 2.0}


class Run:
    """What the strategies read of one group's run of deployments, as parallel lists
    gathered once per decision (no object per deployment: this is on every request)."""

    __slots__ = ("candidates", "cooling", "ids", "now", "states", "weights")

    def __init__(
        self,
        candidates: list[Candidate],
        ids: list[str],
        states: list[DeploymentState],
        weights: list[float],
        now: float,
    ) -> None:
        self.candidates = candidates
        self.ids = ids
        self.states = states
        self.weights = weights
        self.now = now
        #: which deployments are cooling; None when none is (nearly always: no list made)
        self.cooling: list[bool] | None = None
        for state in states:
            if state.cooling_until > now:
                self.cooling = [state.cooling_until > now for state in states]
                break


class Strategy(Protocol):
    name: str

    def scores(self, group: str, run: Run) -> list[float]: ...


class RoundRobin:
    name = "round_robin"

    def __init__(self) -> None:
        self._turns: dict[str, int] = {}

    def scores(self, group: str, run: Run) -> list[float]:
        n = len(run.ids)
        turn = self._turns.get(group, 0)
        self._turns[group] = turn + 1
        rank = {model_id: i for i, model_id in enumerate(sorted(run.ids))}
        return [1.0 - ((rank[model_id] - turn) % n) / n for model_id in run.ids]


class Weighted:
    name = "weighted"

    def __init__(self) -> None:
        self._current: dict[str, dict[str, float]] = {}

    def scores(self, group: str, run: Run) -> list[float]:
        current = self._current.setdefault(group, {})
        # cooling deployments sit out (they go last anyway) and gather no credit meanwhile
        flags = run.cooling if run.cooling is not None else [False] * len(run.ids)
        everyone = all(flags)
        total, best, best_value = 0.0, "", float("-inf")
        for model_id, weight, cooling in zip(run.ids, run.weights, flags, strict=True):
            if cooling and not everyone:
                continue
            value = current[model_id] = current.get(model_id, 0.0) + weight
            total += weight
            if value > best_value:
                best, best_value = model_id, value
        scores = [current.get(model_id, 0.0) for model_id in run.ids]
        current[best] -= total
        return scores


class LeastLatency:
    name = "least_latency"

    def scores(self, group: str, run: Run) -> list[float]:
        return latency_scores(run)


class ErrorAware:
    name = "error_aware"

    def __init__(self, stats: DeploymentStats, breaker: CircuitBreaker | None) -> None:
        self.half_life = stats.error_half_life_s
        #: the breakers' cached states of deployments (None: no breaker, all closed)
        self.breaker_states = breaker.states_of if breaker is not None else None

    def scores(self, group: str, run: Run) -> list[float]:
        now, half_life = run.now, self.half_life
        scores = [1.0 - state.error_rate(now, half_life) for state in run.states]
        if self.breaker_states is not None:
            for i, state in enumerate(self.breaker_states(run.ids)):
                scores[i] -= _BREAKER_PENALTY[state]
        return scores


class LeastOutstanding:
    name = "least_outstanding"

    def scores(self, group: str, run: Run) -> list[float]:
        return outstanding_scores(run)


class Composite:
    name = "composite"

    def __init__(self, errors: ErrorAware, weights: Mapping[str, float]) -> None:
        self._errors = errors
        merged = dict(COMPOSITE_WEIGHTS) | dict(weights)
        self._w = (merged["latency"], merged["errors"], merged["outstanding"], merged["weight"])

    def scores(self, group: str, run: Run) -> list[float]:
        # one plain loop gathers the signals, one more sums them: this runs on every
        # request, for groups of two or three, where each comprehension's set-up costs
        # more than its items
        w_latency, w_errors, w_outstanding, w_weight = self._w
        seconds = ttft_seconds(run)
        now, half_life = run.now, self._errors.half_life
        busy: list[float] = []
        health: list[float] = []
        for state in run.states:
            busy.append(state.outstanding + 1.0)
            health.append(w_errors * (1.0 - state.error_rate(now, half_life)))
        fastest = w_latency * min(seconds)
        fewest = w_outstanding * min(busy)
        states_of = self._errors.breaker_states
        if states_of is not None:
            breakers = states_of(run.ids)
            if breakers.count("closed") != len(breakers):
                for i, state_name in enumerate(breakers):
                    if state_name != "closed":
                        health[i] = -1.0  # a breaker that is not closed: behind the others
        weights = run.weights
        share = w_weight / max(weights)
        return [
            fastest / seconds[i] + health[i] + fewest / busy[i] + share * weights[i]
            for i in range(len(weights))
        ]


def ttft_seconds(run: Run) -> list[float]:
    """Each deployment's time to first token: the EWMA of its streamed calls, the catalog's
    ``latency_ms`` where nothing was observed yet (never below a microsecond)."""
    seconds: list[float] = []
    for state, candidate in zip(run.states, run.candidates, strict=True):
        seen = state.ttft_s.ewma
        value = candidate.model.latency_ms / 1e3 if seen is None else seen
        seconds.append(1e-6 if value < 1e-6 else value)  # max(value, 1e-6), NaN kept
    return seconds


def latency_scores(run: Run) -> list[float]:
    """Fastest time to first token / each one's (1 for the fastest)."""
    seconds = ttft_seconds(run)
    fastest = min(seconds)
    return [fastest / value for value in seconds]


def outstanding_scores(run: Run) -> list[float]:
    """(Fewest calls in flight + 1) / each one's + 1 (1 for the idlest)."""
    busy = [state.outstanding + 1.0 for state in run.states]
    fewest = min(busy)
    return [fewest / value for value in busy]


def build_strategies(
    stats: DeploymentStats,
    breaker: CircuitBreaker | None,
    composite_weights: Mapping[str, float] | None = None,
) -> dict[str, Strategy]:
    """One instance of each strategy (the stateful ones keep their state per group)."""
    errors = ErrorAware(stats, breaker)
    made: list[Strategy] = [
        RoundRobin(),
        Weighted(),
        LeastLatency(),
        errors,
        LeastOutstanding(),
        Composite(errors, composite_weights or {}),
    ]
    return {strategy.name: strategy for strategy in made}
