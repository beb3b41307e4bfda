"""The generate use case: plan a route, run it down the chain, account for the answer.

Used unchanged by the FastAPI routes (local serve and Lambda) and by the tests.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from functools import partial
from typing import TYPE_CHECKING

from orchestra.cache.records import CachedAnswer
from orchestra.cache.replay import replay_chunks
from orchestra.catalog.source import CatalogSource
from orchestra.errors import ProviderError
from orchestra.generate.cached import (
    cached_model,
    captured,
    no_plan,
    note_repeatable,
    replayed,
    through_cache,
)
from orchestra.generate.continuation import (
    ContinuationPolicy,
)
from orchestra.generate.relay import StreamRelay, close_stream, first_chunk, ms_since
from orchestra.generate.results import Generation, Routed, StreamHandle
from orchestra.governance.admission import Admission, current_admission
from orchestra.observability import LogObserver, Observer
from orchestra.providers.base import CallOptions
from orchestra.providers.registry import Registry
from orchestra.resilience.balancer import Balancer
from orchestra.resilience.breaker import CircuitBreaker
from orchestra.resilience.budgets import AttemptBudgets, BudgetKnobs
from orchestra.resilience.deployment_stats import DeploymentStats
from orchestra.resilience.fallback import (
    HEDGE_LOST,
    FallbackRunner,
    HedgeReport,
)
from orchestra.resilience.hedging import HedgeGate
from orchestra.resilience.retry import Deadline, RetryPolicy
from orchestra.routing.groups import first_models
from orchestra.routing.router import Candidate, RoutePlan, Router
from orchestra.routing.scorer import comparable_latency_ms
from orchestra.schemas.chat import ChatChunk, ChatRequest, ChatResponse
from orchestra.storage.model_stats import MetricsRecorder

if TYPE_CHECKING:
    from orchestra.cache.policy import AnswerCache, Lookup
    from orchestra.governance.policies import RequestPolicies

log = logging.getLogger("orchestra.generate")


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
        budgets: AttemptBudgets | None = None,
        hedge: HedgeGate | None = None,
        balancer: Balancer | None = None,
        continuation: ContinuationPolicy | None = None,
        policies: RequestPolicies | None = None,
        cache: AnswerCache | None = None,
    ) -> None:
        self.catalog = catalog
        self.registry = registry
        self.router = router
        self.breaker = breaker
        self.metrics = metrics
        self.observer: Observer = observer or LogObserver()
        #: what this instance has seen of each deployment
        self.stats = stats or DeploymentStats()
        #: whether and how a stream broken after its first byte continues elsewhere
        self.continuation = continuation or ContinuationPolicy()
        #: each attempt's first-token budget and hedge delay, from ``stats``
        self.budgets = budgets or AttemptBudgets(BudgetKnobs(), self.stats)
        #: whether a slow attempt may be hedged (per caller, cost, deployment)
        self.hedge = hedge if hedge is not None else HedgeGate()
        #: orders each model's deployments in a plan (load balancing)
        self.balancer = balancer or Balancer(self.stats, breaker)
        #: relays the streams this gateway opens (and continues the broken ones)
        self.streams = StreamRelay(self)
        self.runner = FallbackRunner(breaker, retry, on_attempt=self._on_attempt)
        self.default_profile = default_profile
        #: streamed answers; ``buffered_deadline_s``: answers sent whole (default: the same)
        self.deadline_s = deadline_s
        self.buffered_deadline_s = buffered_deadline_s or deadline_s
        #: guardrails on the way in and out (None: governance off, nothing to await)
        self.policies = policies
        #: answers from cache (None: no cache, nothing looked up)
        self.cache = cache

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
        available = self.breaker.available
        for candidate in plan.candidates:
            if available(candidate.model.id):
                usable.append(candidate)
            else:
                plan.reject(candidate.model.id, "breaker_open")
                plan.held.append(candidate)
        limit = self.router.max_candidates
        plan.candidates = first_models(usable or plan.held, limit)
        return plan

    async def _checked(self, request: ChatRequest) -> Admission | None:
        """The input guardrails, once per request before its first upstream call; the
        admission the answer's policies apply to (None: governance off)."""
        if self.policies is None:
            return None
        admission = current_admission.get()
        if admission is not None:
            await self.policies.before(request, admission)
        return admission

    async def generate(self, request: ChatRequest) -> Generation:
        """The answer: from cache when a fresh one is there (``cache/policy.py``), else
        down the route's chain (then kept in the cache when the request's plan stores)."""
        admission = await self._checked(request) if self.policies is not None else None
        lookup = self.cache.begin(request) if self.cache is not None else None
        if lookup is None:
            return await self._generated(request, admission, await self.plan(request))
        assert self.cache is not None
        run = partial(self._generated, request, admission)
        found = await through_cache(self.cache, lookup, partial(self.plan, request), run)
        if isinstance(found, CachedAnswer):
            return await self._from_cache(lookup, found, admission)
        assert found.response is not None
        found.cache, model = lookup.report, found.model
        self.cache.keep(lookup, found.response, model.id, model.provider, found.cost_usd)
        return found

    async def _from_cache(
        self, lookup: Lookup, answer: CachedAnswer, admission: Admission | None
    ) -> Generation:
        """A cached answer as a generation: no plan, no call, cost 0, its original usage;
        the key's output policies applied as to a live answer."""
        assert self.cache is not None
        response = ChatResponse.model_validate_json(answer.response)
        if admission is not None and self.policies is not None:
            await self.policies.after(response, admission)
        self.cache.served(lookup, answer)
        note_repeatable(lookup, answer, admission, self.policies)
        model = cached_model(self.catalog, answer.model)
        result = Generation(no_plan(), model, [], usage=response.usage, cache=lookup.report)
        result.response = response
        return result

    async def _generated(
        self, request: ChatRequest, admission: Admission | None, plan: RoutePlan
    ) -> Generation:
        async def call(candidate: Candidate, budget: float) -> ChatResponse:
            provider = self.registry.get(candidate.model.provider)
            options = self.call_options(candidate, budget)
            return await provider.complete(request, candidate.model.upstream, options)

        result = Generation(plan, plan.candidates[0].model, [])
        outcome = await self.runner.run(
            plan,
            call,
            Deadline(self.buffered_deadline_s),
            budgets=self.budgets,
            hedge=self.hedge,
            stats=self.stats,
            output_tokens=request.output_limit() or 0,
        )
        response = outcome.value
        response.model = outcome.candidate.model.id
        result.model, result.attempts = outcome.candidate.model, outcome.attempts
        result.response, result.usage = response, response.usage
        if admission is not None and self.policies is not None:
            await self.policies.after(response, admission)
        self._hedged(result, outcome.hedge)
        self.completed(result)
        return result

    def call_options(self, candidate: Candidate, budget: float) -> CallOptions:
        """The call's timeout, and the upstream's headers reported into the deployment's stats."""
        on_headers = partial(self.stats.observe_headers, candidate.model.id)
        return CallOptions(timeout=budget, on_headers=on_headers, model=candidate.model)

    def _hedged(self, result: Routed, report: HedgeReport) -> None:
        """Report a hedge (header, metrics): its cost is the losing attempt's prompt."""
        if not report.started:
            return
        result.hedge = report
        cost = 0.0
        if report.loser is not None:
            loser = next(c.model for c in result.plan.candidates if c.model.id == report.loser)
            cost = loser.cost(result.plan.prompt_tokens, 0)
        self.metrics.record_hedge(report.first, cost)
        self.observer.hedged(report.first, won=report.hedge_won, cost_usd=cost)

    async def open_stream(self, request: ChatRequest) -> StreamHandle:
        """Fall back freely until the first chunk arrives; after that the choice is final.
        A cached answer (fresh, or stale when every candidate failed) is replayed instead."""
        if self.policies is not None:
            await self._checked(request)
        lookup = self.cache.begin(request) if self.cache is not None else None
        if lookup is None:
            return await self._opened(request, await self.plan(request))
        assert self.cache is not None
        run = partial(self._opened, request)
        found = await through_cache(self.cache, lookup, partial(self.plan, request), run)
        if isinstance(found, CachedAnswer):
            return self._replay(lookup, found, request)
        found.cache, found.lookup = lookup.report, lookup
        return found

    def _replay(self, lookup: Lookup, answer: CachedAnswer, request: ChatRequest) -> StreamHandle:
        assert self.cache is not None
        response = ChatResponse.model_validate_json(answer.response)
        self.cache.served(lookup, answer)
        model, report = cached_model(self.catalog, answer.model), lookup.report
        handle = StreamHandle(no_plan(), model, [], usage=response.usage, cache=report)
        handle.first, handle.rest = replay_chunks(response)
        handle.request = request
        return handle

    async def _opened(self, request: ChatRequest, plan: RoutePlan) -> StreamHandle:
        async def call(
            candidate: Candidate, budget: float
        ) -> tuple[ChatChunk, AsyncIterator[ChatChunk]]:
            provider = self.registry.get(candidate.model.provider)
            options = self.call_options(candidate, budget)
            chunks = provider.stream(request, candidate.model.upstream, options).__aiter__()
            return await first_chunk(chunks, candidate), chunks

        deadline = Deadline(self.deadline_s)
        outcome = await self.runner.run(
            plan,
            call,
            deadline,
            budgets=self.budgets,
            hedge=self.hedge,
            stats=self.stats,
            streamed=True,
            output_tokens=request.output_limit() or 0,
            release=close_stream,
        )
        first, rest = outcome.value
        model, attempts = outcome.candidate.model, outcome.attempts
        handle = StreamHandle(
            plan, model, attempts, first=first, rest=rest, deadline=deadline, request=request
        )
        self._hedged(handle, outcome.hedge)
        return handle

    def relay(self, handle: StreamHandle) -> AsyncIterator[ChatChunk]:
        """The chosen stream's chunks under the id and model the client saw first; a
        failure after the first byte continues the answer elsewhere when it may
        (:class:`~orchestra.generate.relay.StreamRelay`); their text redacted when the
        request's key has its output redacted (every inbound format relays through here)."""
        served = handle.cache is not None and handle.cache.served
        chunks = replayed(handle) if served else self.streams.relay(handle)
        if self.policies is not None:
            admission = current_admission.get()
            if admission is not None:
                chunks = self.policies.redacting(chunks, admission)
        lookup = handle.lookup
        if lookup is not None and lookup.plan.store and self.cache is not None and not served:
            chunks = captured(self.cache, lookup, handle, chunks)
        return chunks

    def _on_attempt(self, candidate: Candidate, error: ProviderError | None, ms: float) -> None:
        self.observer.attempt(candidate.model.id, error, ms)
        if error is not None:
            self.metrics.record_failure(candidate.model.id, ms)

    def completed(self, result: Routed) -> None:
        """Account for an answer (metrics, observer): once per request, when it is whole."""
        latency_ms = ms_since(result.started)
        usage = result.usage
        # a hedge's loser ran beside the winner: neither a fallback nor time spent before it
        failed = [a for a in result.attempts if a.outcome not in ("ok", HEDGE_LOST)]
        fallbacks = len(failed)
        completion = usage.completion_tokens if usage else 0
        failed_ms = sum(a.latency_ms for a in failed)
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
