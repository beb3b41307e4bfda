"""Load-balancing overhead per request: one model with 10 deployments (the issue's target:
under 20 us).

Measured in process over many decisions, after the per-catalog index is built once (as in a
warm process), on the 1,000-model synthetic catalog of ``bench/routing.py`` plus one model
served by 10 providers, ranked first:

- grouping: ``Router.plan`` with the model's 10 deployments pulled in, minus the same plan
  when the model has a single deployment (both ``auto`` and a bare model name);
- balancing: ``Balancer.order`` on that plan (composite strategy unless ``--strategy``), with
  every deployment's statistics warmed (time-to-first-token samples, errors, calls in
  flight) and the breakers' views cached.

Figures in microseconds.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import timeit
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import summary
from orchestra.catalog.models import Catalog, ModelInfo
from orchestra.resilience.balancer import Balancer
from orchestra.resilience.breaker import CircuitBreaker
from orchestra.resilience.deployment_stats import DeploymentStats
from orchestra.routing.router import RoutePlan, Router
from orchestra.schemas.chat import ChatRequest
from orchestra.storage.memory import MemoryBreakerBackend
from routing import PROVIDERS, synthetic_catalog

DEPLOYMENTS = [f"dep{i}" for i in range(10)]


def _model(model_id: str) -> ModelInfo:
    return ModelInfo(
        id=model_id,
        upstream_model="star-model",
        context_window=200_000,
        input_price=1e-6,
        output_price=4e-6,
        quality=1500,  # first in every profile's order
        latency_ms=400,
        tokens_per_s=150,
        capabilities=frozenset({"tools", "streaming", "vision"}),
    )


def catalogs(size: int) -> tuple[Catalog, Catalog]:
    """(the catalog with the model's 10 deployments, the same with only the first)."""
    base = list(synthetic_catalog(size))
    grouped = Catalog([*base, *(_model(f"{p}/star-model") for p in DEPLOYMENTS)])
    single = Catalog([*base, _model(f"{DEPLOYMENTS[0]}/star-model")])
    return grouped, single


def warmed_stats() -> DeploymentStats:
    stats = DeploymentStats()
    for i, name in enumerate(DEPLOYMENTS):
        model_id = f"{name}/star-model"
        for k in range(16):
            stats.succeeded(model_id, 0.2 + 0.01 * i + 0.001 * k, streamed=True)
        for _ in range(i % 3):
            stats.failed(model_id)
        for _ in range(i % 4):
            stats.started(model_id)
    return stats


def paired(
    a: Callable[[], object], b: Callable[[], object], iterations: int, batch: int = 100
) -> tuple[list[float], list[float]]:
    """Per-call microseconds of ``a`` and ``b`` timed in alternating batches (a shared,
    noisy machine drifts; alternating shares the drift), one figure per batch."""
    times_a: list[float] = []
    times_b: list[float] = []
    for _ in range(max(iterations // batch, 1)):
        for fn, times in ((a, times_a), (b, times_b)):
            t = time.perf_counter_ns()
            for _ in range(batch):
                fn()
            times.append((time.perf_counter_ns() - t) / 1e3 / batch)
    return times_a, times_b


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=1000)
    parser.add_argument("--iterations", type=int, default=20000)
    parser.add_argument("--strategy", default="composite")
    args = parser.parse_args()
    grouped, single = catalogs(args.models)
    # one router per catalog: a router keeps the index of the last catalog it saw
    router = Router({*PROVIDERS, *DEPLOYMENTS}, max_candidates=4)
    baseline = Router({*PROVIDERS, *DEPLOYMENTS}, max_candidates=4)
    observed = {m.id: m.latency_ms * 1.1 for m in grouped}
    print(f"{len(grouped)} models, one of them with {len(DEPLOYMENTS)} deployments")
    reference = min(timeit.repeat("[x * 2.0 for x in range(10)]", number=100_000, repeat=5))
    print(f"machine reference: a 10-item list comprehension takes {reference * 10:.2f} us")
    print("microseconds per call (figures per batch of 100, batches alternating):")
    grouping: dict[str, float] = {}
    best: dict[str, float] = {}
    for model in ("auto", "star-model"):
        request = ChatRequest(model=model, messages=[{"role": "user", "content": "Hi there"}])
        with_group, alone = paired(
            lambda r=request: router.plan(r, grouped, observed_ms=observed.get),
            lambda r=request: baseline.plan(r, single, observed_ms=observed.get),
            args.iterations,
        )
        grouping[model] = statistics.median(with_group) - statistics.median(alone)
        # the least disturbed batches: the cost itself, without the neighbours' load
        best[model] = min(with_group) - min(alone)
        print(f"  Router.plan model={model!r:13s} 10 deployments: {summary(with_group)}")
        print(f"  Router.plan model={model!r:13s} 1 deployment:   {summary(alone)}")
    stats = warmed_stats()
    breaker = CircuitBreaker(MemoryBreakerBackend())
    balancer = Balancer(stats, breaker, strategy=args.strategy)
    request = ChatRequest(model="star-model", messages=[{"role": "user", "content": "Hi"}])
    template = router.plan(request, grouped, observed_ms=observed.get)
    assert len(template.candidates) == len(DEPLOYMENTS)

    def copied() -> RoutePlan:
        return RoutePlan("balanced", None, 0, list(template.candidates), table=template.table)

    ordered, copy_only = paired(lambda: balancer.order(copied()), copied, args.iterations)
    balance = [o - c for o, c in zip(ordered, copy_only, strict=True)]
    print(f"  Balancer.order {args.strategy} over 10 deployments: {summary(balance)}")
    for model, extra in grouping.items():
        total = extra + statistics.median(balance)
        verdict = "OK" if total < 20.0 else "OVER"
        print(
            f"overhead per request, model={model!r}: grouping {extra:.1f} + balancing "
            f"{statistics.median(balance):.1f} = {total:.1f} us (p50; target < 20 us: {verdict}); "
            f"best batches: {best[model] + min(balance):.1f} us"
        )


if __name__ == "__main__":
    main()
