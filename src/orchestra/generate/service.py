"""The generate use case: plan a route, run it down the chain, account for the answer.

Used unchanged by the FastAPI routes (local serve and Lambda) and by the tests.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from functools import partial

from orchestra.catalog.models import ModelInfo
from orchestra.catalog.source import CatalogSource
from orchestra.errors import (
    MalformedResponse,
    OrchestraError,
    ProviderError,
    StreamInterrupted,
)
from orchestra.generate.continuation import (
    ContinuationPolicy,
    SentSoFar,
    Stitch,
    continuation_request,
    reason_of,
    refusal,
    rest_of_chain,
    supports_prefill,
)
from orchestra.generate.overlap import Joiner
from orchestra.observability import LogObserver, Observer
from orchestra.providers.base import CallOptions
from orchestra.providers.registry import Registry
from orchestra.resilience.balancer import Balancer
from orchestra.resilience.breaker import CircuitBreaker, Permit
from orchestra.resilience.budgets import AttemptBudgets, BudgetKnobs
from orchestra.resilience.deployment_stats import DeploymentStats
from orchestra.resilience.fallback import (
    HEDGE_LOST,
    NO_HEDGE,
    Attempt,
    Call,
    FallbackRunner,
    HedgeReport,
    Outcome,
)
from orchestra.resilience.hedging import HedgeGate
from orchestra.resilience.retry import Deadline, RetryPolicy
from orchestra.routing.groups import first_models
from orchestra.routing.router import Candidate, RoutePlan, Router
from orchestra.routing.scorer import comparable_latency_ms
from orchestra.schemas.chat import ChatChunk, ChatRequest, ChatResponse, Usage
from orchestra.schemas.options import header_options
from orchestra.storage.model_stats import MetricsRecorder
from orchestra.tokens import estimate_prompt_tokens

log = logging.getLogger("orchestra.generate")


@dataclass
class Routed:
    """What every answer carries back: who answered, how we got there, what it cost.

    A continued stream (``generate/continuation.py``): ``model`` is the one that finished
    the answer, ``usage`` counts every call, and the calls cut short before it are also
    kept apart (``carried_usage``, ``carried_cost_usd``: each at its own model's price)."""

    plan: RoutePlan
    model: ModelInfo
    attempts: list[Attempt]
    started: float = field(default_factory=time.perf_counter)
    usage: Usage | None = None
    carried_usage: Usage | None = None
    carried_cost_usd: float = 0.0
    #: the hedge started beside a slow first attempt, if one was (``x-orchestra-hedge``)
    hedge: HedgeReport = NO_HEDGE

    @property
    def cost_usd(self) -> float:
        usage, carried = self.usage, self.carried_usage
        if usage is None:
            return self.carried_cost_usd
        prompt, completion = usage.prompt_tokens, usage.completion_tokens
        if carried is not None:  # the answering model's own share
            prompt = max(prompt - carried.prompt_tokens, 0)
            completion = max(completion - carried.completion_tokens, 0)
        return self.carried_cost_usd + self.model.cost(prompt, completion)


@dataclass
class Generation(Routed):
    response: ChatResponse | None = None


@dataclass
class StreamHandle(Routed):
    first: ChatChunk | None = None
    rest: AsyncIterator[ChatChunk] | None = None
    #: the request's deadline: a stream still running then ends with an error event
    deadline: Deadline | None = None
    #: the request, to continue the answer elsewhere if the stream breaks
    request: ChatRequest | None = None


@dataclass(frozen=True, slots=True)
class _Resumed:
    """A continuation that has started: its first chunk, the rest, how it was asked."""

    first: ChatChunk
    chunks: AsyncIterator[ChatChunk]
    prefill: bool
    prompt_tokens: int


class Generate:
    #: mid-stream continuation's settings (composition sets the gateway's own)
    continuation: ContinuationPolicy = ContinuationPolicy()

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
    ) -> None:
        self.catalog = catalog
        self.registry = registry
        self.router = router
        self.breaker = breaker
        self.metrics = metrics
        self.observer: Observer = observer or LogObserver()
        #: what this instance has seen of each deployment
        self.stats = stats or DeploymentStats()
        #: each attempt's first-token budget and hedge delay, from ``stats``
        self.budgets = budgets or AttemptBudgets(BudgetKnobs(), self.stats)
        #: whether a slow attempt may be hedged (per caller, cost, deployment)
        self.hedge = hedge if hedge is not None else HedgeGate()
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
            options = self._options(candidate, budget)
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
        self._hedged(result, outcome.hedge)
        self._completed(result)
        return result

    def _options(self, candidate: Candidate, budget: float) -> CallOptions:
        """The call's timeout, and the upstream's headers reported into the deployment's stats."""
        on_headers = partial(self.stats.observe_headers, candidate.model.id)
        return CallOptions(timeout=budget, on_headers=on_headers)

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
        """Fall back freely until the first chunk arrives; after that the choice is final."""
        plan = await self.plan(request)

        async def call(
            candidate: Candidate, budget: float
        ) -> tuple[ChatChunk, AsyncIterator[ChatChunk]]:
            provider = self.registry.get(candidate.model.provider)
            options = self._options(candidate, budget)
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
        outcome = await self.runner.run(
            plan,
            call,
            deadline,
            budgets=self.budgets,
            hedge=self.hedge,
            stats=self.stats,
            streamed=True,
            output_tokens=request.output_limit() or 0,
            release=_close_stream,
        )
        first, rest = outcome.value
        model, attempts = outcome.candidate.model, outcome.attempts
        handle = StreamHandle(
            plan, model, attempts, first=first, rest=rest, deadline=deadline, request=request
        )
        self._hedged(handle, outcome.hedge)
        return handle

    async def relay(self, handle: StreamHandle) -> AsyncIterator[ChatChunk]:
        """The chosen stream's chunks under the id and model the client saw first.

        A failure after the first byte continues the answer on the next candidate when it
        may (:meth:`_continued`; the last chunks then say so), else becomes typed."""
        assert handle.first is not None and handle.rest is not None
        model_id = handle.model.id
        chunk_id = handle.first.id or f"chatcmpl-{id(handle):x}"
        sent, stitch = SentSoFar(), Stitch()
        chunk: ChatChunk | None = handle.first
        try:
            while chunk is not None:
                chunk.id, chunk.model = chunk_id, model_id
                if chunk.usage is not None:
                    sent.usage = handle.usage = chunk.usage
                for out in stitch.pass_on(chunk) if stitch.joiner else (chunk,):
                    sent.see(out)
                    if out.usage is not None:
                        handle.usage = out.usage
                    yield out
                try:
                    chunk = await _next_chunk(handle.rest, handle.deadline)
                except DeadlineEnded as exc:  # ours, not the model's failure: no breaker count
                    raise self._deadline_error(handle) from exc
                except Exception as exc:  # a broken upstream or an adapter bug
                    for out in stitch.flush():  # a continuation's held start, sent as it is
                        sent.see(out)
                        yield out
                    chunk = await self._continued(handle, sent, stitch, exc)
            for out in stitch.flush():  # a continuation that ended inside its window
                if out.usage is not None:
                    handle.usage = out.usage
                yield out
        finally:
            self.stats.finished(model_id)  # the deployment's call is no longer outstanding
            await _close(handle.rest)  # the client may have gone: release the upstream
        self._completed(handle)

    def _deadline_error(self, handle: StreamHandle) -> StreamInterrupted:
        return StreamInterrupted(
            f"{handle.model.id} was still answering when the request's deadline "
            f"({self.deadline_s:g} s) ended",
            provider=handle.model.provider,
            model=handle.model.id,
        )

    async def _continued(
        self, handle: StreamHandle, sent: SentSoFar, stitch: Stitch, exc: Exception
    ) -> ChatChunk:
        """The first chunk of the stream that finishes the answer, on the candidates after
        the one that broke; the broken call's :class:`StreamInterrupted` when it may not
        continue (:func:`~orchestra.generate.continuation.refusal`) or nothing could."""
        error = await self._interrupted(handle, exc)
        broken, deadline = handle.model, handle.deadline or Deadline(self.deadline_s)
        rest = rest_of_chain(handle.plan, broken.id)
        why = "no_candidate_left" if not rest else None
        why = why or refusal(
            self.continuation,
            handle.request,
            sent,
            exc,
            model_id=broken.id,
            continued=len(stitch.records),
            remaining_s=deadline.remaining(),
            header=header_options.get(),
        )
        if why is not None or handle.request is None:
            log.info("stream from %s not continued: %s", broken.id, why)
            raise error from exc
        partial = sent.partial()
        call = self._continuation_call(handle.request, partial)
        plan = replace(handle.plan, candidates=rest, rejected=[], held=[], balancing=[])
        try:
            outcome = await self.runner.run(plan, call, deadline)
        except OrchestraError as failed:
            handle.attempts.extend(getattr(failed, "attempts", None) or [])
            log.warning("stream from %s could not be continued: %s", broken.id, failed.code)
            raise error from exc
        await _close(handle.rest)  # the broken stream (it has failed: this only releases it)
        self._joined(handle, sent, stitch, outcome, reason_of(exc), partial)
        return outcome.value.first

    def _continuation_call(self, request: ChatRequest, partial: str) -> Call[_Resumed]:
        async def call(candidate: Candidate, budget: float) -> _Resumed:
            provider = self.registry.get(candidate.model.provider)
            upstream = candidate.model.upstream
            prefill = supports_prefill(provider, upstream)
            asked = continuation_request(request, partial, prefill=prefill)
            chunks = provider.stream(asked, upstream, CallOptions(timeout=budget)).__aiter__()
            first = await _first_chunk(chunks, candidate)
            return _Resumed(first, chunks, prefill, estimate_prompt_tokens(asked))

        return call

    def _joined(
        self,
        handle: StreamHandle,
        sent: SentSoFar,
        stitch: Stitch,
        outcome: Outcome[_Resumed],
        reason: str,
        partial: str,
    ) -> None:
        """Bookkeeping once a continuation has started: the broken call's usage and cost
        carried, the attempts, the model that now answers, the log line."""
        broken, resumed = handle.model, outcome.value
        usage = sent.call_usage(stitch.prompt_tokens or handle.plan.prompt_tokens)
        handle.carried_cost_usd += broken.cost(usage.prompt_tokens, usage.completion_tokens)
        to = outcome.candidate.model
        record = {"from": broken.id, "to": to.id, "after_chars": len(partial), "reason": reason}
        stitch.join(record, Joiner(partial, prefill=resumed.prefill), usage)
        stitch.prompt_tokens = resumed.prompt_tokens
        handle.usage = handle.carried_usage = stitch.carried
        ms = _ms_since(sent.call_started)
        handle.attempts.append(Attempt(broken.id, broken.provider, f"interrupted:{reason}", ms))
        handle.attempts.extend(outcome.attempts)
        handle.model, handle.rest = to, resumed.chunks
        sent.new_call()
        mode = "prefill" if resumed.prefill else "instruction"
        log.info(
            "stream from %s broke after %d characters (%s); continued on %s (%s)",
            broken.id,
            len(partial),
            reason,
            to.id,
            mode,
        )

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


async def _first_chunk(chunks: AsyncIterator[ChatChunk], candidate: Candidate) -> ChatChunk:
    try:
        return await chunks.__anext__()
    except StopAsyncIteration as exc:
        raise MalformedResponse(
            "upstream closed the stream before sending anything",
            provider=candidate.model.provider,
            model=candidate.model.id,
        ) from exc


async def _close(chunks: AsyncIterator[ChatChunk] | None) -> None:
    closer = getattr(chunks, "aclose", None)
    if closer is not None:
        await closer()


async def _close_stream(value: tuple[ChatChunk, AsyncIterator[ChatChunk]]) -> None:
    """Release a stream that lost a hedge race: its iterator closed, its connection with it."""
    await _close(value[1])


def _ms_since(started: float) -> float:
    return (time.perf_counter() - started) * 1000.0
