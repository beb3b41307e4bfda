"""The generate use case: plan a route, run it down the chain, account for the answer.

Used unchanged by the FastAPI routes (local serve and Lambda) and by the tests.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from orchestra.catalog.models import ModelInfo
from orchestra.catalog.source import CatalogSource
from orchestra.errors import (
    MalformedResponse,
    ProviderError,
    StreamInterrupted,
)
from orchestra.observability import LogObserver, Observer
from orchestra.providers.base import CallOptions
from orchestra.providers.registry import Registry
from orchestra.resilience.balancer import Balancer
from orchestra.resilience.breaker import CircuitBreaker, Permit
from orchestra.resilience.deployment_stats import DeploymentStats
from orchestra.resilience.fallback import Attempt, FallbackRunner
from orchestra.resilience.retry import Deadline, RetryPolicy
from orchestra.routing.groups import first_models
from orchestra.routing.router import Candidate, RoutePlan, Router
from orchestra.routing.scorer import comparable_latency_ms
from orchestra.schemas.chat import ChatChunk, ChatRequest, ChatResponse, Usage
from orchestra.storage.model_stats import MetricsRecorder

log = logging.getLogger("orchestra.generate")


@dataclass
class Routed:
    """What every answer carries back: who answered, how we got there, what it cost."""

    plan: RoutePlan
    model: ModelInfo
    attempts: list[Attempt]
    started: float = field(default_factory=time.perf_counter)
    usage: Usage | None = None

    @property
    def cost_usd(self) -> float:
        if self.usage is None:
            return 0.0
        return self.model.cost(self.usage.prompt_tokens, self.usage.completion_tokens)


@dataclass
class Generation(Routed):
    response: ChatResponse | None = None


@dataclass
class StreamHandle(Routed):
    first: ChatChunk | None = None
    rest: AsyncIterator[ChatChunk] | None = None
    #: the request's deadline: a stream still running then ends with an error event
    deadline: Deadline | None = None


class Generate:
    def __init__(
        self,
        *,
        catalog: CatalogSource,
        registry: Registry,
        router: Router,
        breaker: CircuitBreaker,
        metrics: MetricsRecorder,
        retry: RetryPolicy | None = None,
        observer: Observer | None = None,
        default_profile: str = "balanced",
        deadline_s: float = 25.0,
        buffered_deadline_s: float | None = None,
        stats: DeploymentStats | None = None,
        balancer: Balancer | None = None,
    ) -> None:
        self.catalog = catalog
        self.registry = registry
        self.router = router
        self.breaker = breaker
        self.metrics = metrics
        self.observer: Observer = observer or LogObserver()
        #: what this instance has seen of each deployment
        self.stats = stats or DeploymentStats()
        #: orders each model's deployments in a plan (load balancing)
        self.balancer = balancer or Balancer(self.stats, breaker)
        self.runner = FallbackRunner(breaker, retry, on_attempt=self._on_attempt)
        self.default_profile = default_profile
        #: streamed answers; ``buffered_deadline_s``: answers sent whole (default: the same)
        self.deadline_s = deadline_s
        self.buffered_deadline_s = buffered_deadline_s or deadline_s

    async def plan(self, request: ChatRequest) -> RoutePlan:
        catalog = await self.catalog.current()
        plan = self.router.plan(
            request,
            catalog,
            default_profile=self.default_profile,
            observed_ms=self.metrics.observed_latency_ms,
        )
        await self.breaker.prefetch([c.model.id for c in plan.candidates])
        named = plan.candidates[0] if plan.pinned else None
        self._apply_breakers(plan)
        # balanced after the breakers: only callable deployments are scored and shown in
        # the trace, and the cut (which counts models, not deployments) keeps whole groups
        plan.pinned = named is not None and plan.candidates[0] is named
        self.balancer.order(plan)
        return plan

    def _apply_breakers(self, plan: RoutePlan) -> RoutePlan:
        """Open breakers leave the chain (kept aside as a last resort); the chain is cut
        after ``max_candidates`` models (a model's deployments count once)."""
        usable: list[Candidate] = []
        for candidate in plan.candidates:
            view = self.breaker.view(candidate.model.id)
            if view.available:
                usable.append(candidate)
            else:
                plan.reject(candidate.model.id, "breaker_open")
                plan.held.append(candidate)
        limit = self.router.max_candidates
        plan.candidates = first_models(usable or plan.held, limit)
        return plan

    async def generate(self, request: ChatRequest) -> Generation:
        plan = await self.plan(request)

        async def call(candidate: Candidate, budget: float) -> ChatResponse:
            provider = self.registry.get(candidate.model.provider)
            options = CallOptions(timeout=budget)
            return await provider.complete(request, candidate.model.upstream, options)

        result = Generation(plan, plan.candidates[0].model, [])
        outcome = await self.runner.run(plan, call, Deadline(self.buffered_deadline_s))
        response = outcome.value
        response.model = outcome.candidate.model.id
        result.model, result.attempts = outcome.candidate.model, outcome.attempts
        result.response, result.usage = response, response.usage
        self._completed(result)
        return result

    async def open_stream(self, request: ChatRequest) -> StreamHandle:
        """Fall back freely until the first chunk arrives; after that the choice is final."""
        plan = await self.plan(request)

        async def call(
            candidate: Candidate, budget: float
        ) -> tuple[ChatChunk, AsyncIterator[ChatChunk]]:
            provider = self.registry.get(candidate.model.provider)
            options = CallOptions(timeout=budget)
            chunks = provider.stream(request, candidate.model.upstream, options).__aiter__()
            try:
                first = await chunks.__anext__()
            except StopAsyncIteration as exc:
                raise MalformedResponse(
                    "upstream closed the stream before sending anything",
                    provider=candidate.model.provider,
                    model=candidate.model.id,
                ) from exc
            return first, chunks

        deadline = Deadline(self.deadline_s)
        outcome = await self.runner.run(plan, call, deadline)
        first, rest = outcome.value
        model, attempts = outcome.candidate.model, outcome.attempts
        return StreamHandle(plan, model, attempts, first=first, rest=rest, deadline=deadline)

    async def relay(self, handle: StreamHandle) -> AsyncIterator[ChatChunk]:
        """The chosen stream's chunks, renamed to our model id; failures become typed."""
        assert handle.first is not None and handle.rest is not None
        model_id = handle.model.id
        chunk_id = handle.first.id or f"chatcmpl-{id(handle):x}"
        chunk: ChatChunk | None = handle.first
        try:
            while chunk is not None:
                chunk.id, chunk.model = chunk_id, model_id
                if chunk.usage is not None:
                    handle.usage = chunk.usage
                yield chunk
                chunk = await _next_chunk(handle.rest, handle.deadline)
        except DeadlineEnded as exc:  # our deadline, not the model's failure: no breaker count
            raise StreamInterrupted(
                f"{model_id} was still answering when the request's deadline "
                f"({self.deadline_s:g} s) ended",
                provider=handle.model.provider,
                model=model_id,
            ) from exc
        except Exception as exc:  # a broken upstream or an adapter bug, after the first byte
            raise await self._interrupted(handle, exc) from exc
        finally:
            closer = getattr(handle.rest, "aclose", None)
            if closer is not None:
                await closer()  # the client may have gone: release the upstream connection
        self._completed(handle)

    async def _interrupted(self, handle: StreamHandle, exc: Exception) -> StreamInterrupted:
        model = handle.model
        error = exc if isinstance(exc, ProviderError) else None
        # the upstream's own words ("Token limit reached"), not only the error's type
        summary = f"{error.summary()}: {error.message}" if error else "unexpected upstream failure"
        if error is None:
            log.error("stream from %s failed unexpectedly", model.id, exc_info=exc)
        await self.breaker.record_failure(model.id, Permit(probe=False))
        self.observer.attempt(model.id, error, _ms_since(handle.started))
        return StreamInterrupted(
            f"{model.id} failed after the answer had started: {summary}",
            provider=model.provider,
            model=model.id,
        )

    def _on_attempt(self, candidate: Candidate, error: ProviderError | None, ms: float) -> None:
        self.observer.attempt(candidate.model.id, error, ms)
        if error is not None:
            self.metrics.record_failure(candidate.model.id, ms)

    def _completed(self, result: Routed) -> None:
        latency_ms = _ms_since(result.started)
        usage = result.usage
        fallbacks = sum(1 for a in result.attempts if a.outcome != "ok")
        completion = usage.completion_tokens if usage else 0
        failed_ms = sum(a.latency_ms for a in result.attempts if a.outcome != "ok")
        own_ms = max(latency_ms - failed_ms, 0.0)  # the chosen model's own time
        self.metrics.record(
            result.model.id,
            latency_ms=latency_ms,
            prompt_tokens=usage.prompt_tokens if usage else 0,
            completion_tokens=completion,
            cost_usd=result.cost_usd,
            error=False,
            speed_sample_ms=comparable_latency_ms(result.model, own_ms, completion),
        )
        self.observer.completed(
            result.model.id,
            usage=usage,
            cost_usd=result.cost_usd,
            latency_ms=latency_ms,
            fallbacks=fallbacks,
        )
        self.flush_metrics_soon()

    def flush_metrics_soon(self) -> None:
        """Metrics reach their table at most every flush interval, off the request path."""
        self.metrics.flush_soon()


class DeadlineEnded(Exception):
    """The request's deadline passed while waiting for the next chunk."""


async def _next_chunk(
    chunks: AsyncIterator[ChatChunk], deadline: Deadline | None
) -> ChatChunk | None:
    """The next chunk; :class:`DeadlineEnded` once the request's deadline has passed."""
    if deadline is None:
        return await anext(chunks, None)
    try:
        return await asyncio.wait_for(anext(chunks, None), deadline.remaining())
    except TimeoutError as exc:
        if deadline.expired():
            raise DeadlineEnded from exc
        raise


def _ms_since(started: float) -> float:
    return (time.perf_counter() - started) * 1000.0
