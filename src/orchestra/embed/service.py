"""The embeddings use case: plan the chain, run it with the fallback runner, account for it.

Resilience is generate's: :class:`~orchestra.resilience.fallback.FallbackRunner` with the
shared breaker and retry policy, so a failing model is retried on itself and its breaker
opens as for chat. Another model answers only when the caller listed it in ``fallbacks``
(:mod:`~orchestra.embed.plan`); :attr:`Embedded.fallback` then says so (the API sends it
as ``x-orchestra-fallback``), and :attr:`Embedded.model` is always the space the vectors
are in.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from orchestra.catalog.models import ModelInfo
from orchestra.catalog.pricing import cost_usd
from orchestra.catalog.source import CatalogSource
from orchestra.embed.plan import embedding_plan
from orchestra.errors import MalformedResponse, ProviderError
from orchestra.observability import LogObserver, Observer
from orchestra.providers.base import CallOptions
from orchestra.providers.registry import Registry
from orchestra.resilience.breaker import CircuitBreaker
from orchestra.resilience.fallback import Attempt, FallbackRunner
from orchestra.resilience.retry import Deadline, RetryPolicy
from orchestra.routing.router import Candidate, RoutePlan
from orchestra.schemas.chat import Usage
from orchestra.schemas.embeddings import EmbeddingRequest
from orchestra.storage.model_stats import MetricsRecorder

Vector = list[float]


@dataclass
class Embedded:
    """The vectors, the model whose space they are in, and how that model was reached."""

    plan: RoutePlan
    model: ModelInfo
    attempts: list[Attempt]
    vectors: list[Vector] = field(default_factory=list)
    prompt_tokens: int = 0
    started: float = field(default_factory=time.perf_counter)

    @property
    def requested(self) -> ModelInfo:
        """The chain's first model (the one asked for, or ``auto``'s pick)."""
        return self.plan.candidates[0].model

    @property
    def fallback(self) -> str | None:
        """``"<requested> -> <answering>"`` when a listed fallback answered, else None."""
        if self.model.id == self.requested.id:
            return None
        return f"{self.requested.id} -> {self.model.id}"

    @property
    def usage(self) -> Usage:
        return Usage.of(self.prompt_tokens, 0)

    @property
    def cost_usd(self) -> float:
        return cost_usd(self.model, self.usage)


class Embed:
    def __init__(
        self,
        *,
        catalog: CatalogSource,
        registry: Registry,
        breaker: CircuitBreaker,
        metrics: MetricsRecorder,
        retry: RetryPolicy | None = None,
        observer: Observer | None = None,
        deadline_s: float = 25.0,
    ) -> None:
        self.catalog = catalog
        self.registry = registry
        self.breaker = breaker
        self.metrics = metrics
        self.observer: Observer = observer or LogObserver()
        self.runner = FallbackRunner(breaker, retry, on_attempt=self._on_attempt)
        self.deadline_s = deadline_s

    async def plan(self, request: EmbeddingRequest) -> RoutePlan:
        catalog = await self.catalog.current()
        plan = embedding_plan(
            request,
            catalog,
            self.registry.names(),
            lambda provider: self.registry.embedder(provider) is not None,
        )
        await self.breaker.prefetch([c.model.id for c in plan.candidates])
        return plan

    async def embed(self, request: EmbeddingRequest) -> Embedded:
        plan = await self.plan(request)
        texts = request.texts()

        async def call(candidate: Candidate, budget: float) -> tuple[list[Vector], int]:
            model = candidate.model
            client = self.registry.embedder(model.provider)
            assert client is not None  # the plan holds only providers with embeddings
            options = CallOptions(timeout=budget, model=model)
            vectors, tokens = await client.embed(texts, model.upstream, request.dimensions, options)
            if len(vectors) != len(texts):
                raise MalformedResponse(
                    f"{model.provider} sent {len(vectors)} embeddings for {len(texts)} inputs",
                    provider=model.provider,
                    model=model.id,
                )
            return vectors, tokens

        result = Embedded(plan, plan.candidates[0].model, [])
        outcome = await self.runner.run(plan, call, Deadline(self.deadline_s))
        result.model, result.attempts = outcome.candidate.model, outcome.attempts
        result.vectors, result.prompt_tokens = outcome.value
        self._completed(result)
        return result

    def _on_attempt(self, candidate: Candidate, error: ProviderError | None, ms: float) -> None:
        self.observer.attempt(candidate.model.id, error, ms)
        if error is not None:
            self.metrics.record_failure(candidate.model.id, ms)

    def _completed(self, result: Embedded) -> None:
        latency_ms = (time.perf_counter() - result.started) * 1000.0
        self.metrics.record(
            result.model.id,
            latency_ms=latency_ms,
            prompt_tokens=result.prompt_tokens,
            completion_tokens=0,
            cost_usd=result.cost_usd,
            error=False,
        )
        self.observer.completed(
            result.model.id,
            usage=result.usage,
            cost_usd=result.cost_usd,
            latency_ms=latency_ms,
            fallbacks=sum(1 for a in result.attempts if a.outcome != "ok"),
        )
        self.metrics.flush_soon()
