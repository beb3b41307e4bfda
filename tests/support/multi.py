"""A multi-generate service over scripted models, shared by the multi and panel tests.

Seven models on the scripted provider (one on a provider that is not configured), a
service built the way the app builds it, and the request and result helpers.
"""

from __future__ import annotations

import dataclasses
import random
from typing import Any

from orchestra.catalog.models import Catalog, ModelInfo
from orchestra.catalog.source import CatalogSource
from orchestra.generate.service import Generate
from orchestra.multi.service import Limits, MultiGenerate
from orchestra.observability import Fused
from orchestra.panel.fanout import FanOut
from orchestra.panel.selection import Selector
from orchestra.providers.registry import Registry
from orchestra.resilience.breaker import BreakerPolicy, CircuitBreaker
from orchestra.resilience.retry import RetryPolicy
from orchestra.routing.router import Router
from orchestra.schemas.multi import MultiGenerateRequest, MultiGenerateResponse
from orchestra.storage.memory import MemoryBreakerBackend, MemoryMetricsBackend
from orchestra.storage.model_stats import MetricsRecorder

from support.scripted import ScriptedProvider

P = "scripted"


def _model(name: str, quality: float, price: float = 1e-6, provider: str = P) -> ModelInfo:
    return ModelInfo(
        id=f"{provider}/{name}",
        context_window=100_000,
        input_price=price,
        output_price=2 * price,
        quality=quality,
        capabilities=frozenset({"streaming"}),
    )


MODELS = [
    _model("gpt-a", 1400),
    _model("claude-b", 1380),
    _model("gemini-c", 1360),
    _model("llama-d", 1300),
    _model("gpt-e", 1390),
    _model("gemini-judge", 1460),
    _model("gpt-elsewhere", 1500, provider="other"),
]
A, B, C, D, E = (f"{P}/{n}" for n in ("gpt-a", "claude-b", "gemini-c", "llama-d", "gpt-e"))
JUDGE = f"{P}/gemini-judge"


class Recorder:
    """An observer that keeps what each fused request reported."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def attempt(self, *args: Any, **kw: Any) -> None: ...

    def completed(self, *args: Any, **kw: Any) -> None: ...

    def breaker_opened(self, *args: Any) -> None: ...

    def guardrail(self, *args: Any) -> None: ...

    def refused(self, *args: Any) -> None: ...

    def hedged(self, *args: Any, **kwargs: Any) -> None: ...

    def fused(self, summary: Fused) -> None:
        self.calls.append(dataclasses.asdict(summary))


def multi_service(
    provider: ScriptedProvider, deadline: float = 5.0, observer: Recorder | None = None
) -> MultiGenerate:
    catalog = CatalogSource(base=Catalog(MODELS))
    registry = Registry({P: provider}, {})
    router = Router({P}, max_candidates=4)
    breaker = CircuitBreaker(MemoryBreakerBackend(), BreakerPolicy(failure_threshold=3))
    metrics = MetricsRecorder(MemoryMetricsBackend())
    retry = RetryPolicy(attempts_per_model=2, base_delay_s=0.01, rng=random.Random(1))
    # the runner generate uses (its attempt hook reports to the observer and the metrics)
    runner = Generate(
        catalog=catalog,
        registry=registry,
        router=router,
        breaker=breaker,
        metrics=metrics,
        retry=retry,
        observer=observer,
    ).runner
    limits = Limits(max_models=6, default_count=3, deadline_s=deadline)
    return MultiGenerate(
        catalog=catalog,
        selector=Selector(router, breaker, max_models=6, default_count=3),
        fanout=FanOut(registry, runner, metrics),
        metrics=metrics,
        observer=observer,
        limits=limits,
    )


def multi_request(**options: Any) -> MultiGenerateRequest:
    messages = [{"role": "user", "content": "What is 6 times 7?"}]
    return MultiGenerateRequest.from_body({"messages": messages, **options})


def by_model(response: MultiGenerateResponse) -> dict[str, Any]:
    return {r.model: r for r in response.results}
