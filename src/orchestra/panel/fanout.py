"""Calling several models at once: one task per model, stop early, cancel the rest.

Each model runs through the same :class:`~orchestra.resilience.fallback.FallbackRunner` as
generate (breaker gate, retries with backoff inside its own time budget), as a chain of one.
Models that can stream are called streaming and the chunks collected: cancelling such a
call closes the upstream connection mid-answer, so the vendor stops generating (and
billing), and the tokens received so far are known and reported as an estimate.

The fan-out waits for every model, or until ``enough`` says the answers in hand suffice
(``first``, ``quorum``), or until the deadline; whatever is still running is cancelled and
awaited, so no connection outlives the request.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field

from orchestra.catalog.models import ModelInfo
from orchestra.catalog.pricing import cost_usd
from orchestra.errors import (
    AllCandidatesFailed,
    MalformedResponse,
    OrchestraError,
    ProviderTimeout,
)
from orchestra.providers.base import CallOptions
from orchestra.providers.registry import Registry
from orchestra.resilience.fallback import Attempt, FallbackRunner
from orchestra.resilience.retry import Deadline
from orchestra.routing.router import Candidate, RoutePlan
from orchestra.routing.scorer import comparable_latency_ms
from orchestra.schemas.chat import (
    AssistantMessage,
    ChatChunk,
    ChatRequest,
    ChatResponse,
    Choice,
    Usage,
    new_completion_id,
)
from orchestra.schemas.multi import Status
from orchestra.storage.model_stats import MetricsRecorder
from orchestra.tokens import estimate_prompt_tokens, estimate_text_tokens

log = logging.getLogger("orchestra.panel")

#: beyond a model's budget, how long the hard stop waits for the adapter's own timeout
HARD_STOP_GRACE_S = 0.25


@dataclass
class Progress:
    """What one attempt has received so far."""

    parts: list[str] = field(default_factory=list)
    usage: Usage | None = None
    finish_reason: str | None = None
    id: str = ""

    def see(self, chunk: ChatChunk) -> None:
        self.id = self.id or chunk.id
        if chunk.usage is not None:
            self.usage = chunk.usage
        for choice in chunk.choices:
            if choice.delta.content:
                self.parts.append(choice.delta.content)
            if choice.finish_reason:
                self.finish_reason = choice.finish_reason

    def text(self) -> str:
        return "".join(self.parts)


async def collect(
    chunks: AsyncIterator[ChatChunk], model: ModelInfo, progress: Progress
) -> ChatResponse:
    """A stream gathered into one response; the stream is closed whatever happens."""
    try:
        async for chunk in chunks:
            progress.see(chunk)
    finally:
        closer = getattr(chunks, "aclose", None)
        if closer is not None:
            await closer()
    if progress.finish_reason is None and not progress.parts:
        raise MalformedResponse(
            "upstream closed the stream without an answer", provider=model.provider, model=model.id
        )
    message = AssistantMessage(content=progress.text())
    finish = progress.finish_reason or "stop"
    return ChatResponse(
        id=progress.id or new_completion_id(),
        model=model.id,
        choices=[Choice(message=message, finish_reason=finish)],  # type: ignore[arg-type]
        usage=progress.usage,
    )


@dataclass
class ModelRun:
    """One model's call in a fan-out, whatever became of it."""

    model: ModelInfo
    status: Status = "cancelled"
    response: ChatResponse | None = None
    error: OrchestraError | None = None
    attempts: list[Attempt] = field(default_factory=list)
    progress: Progress = field(default_factory=Progress)
    started: float = field(default_factory=time.perf_counter)
    finished: float | None = None
    prompt_tokens: int = 0

    @property
    def latency_ms(self) -> float:
        end = self.finished if self.finished is not None else time.perf_counter()
        return (end - self.started) * 1000.0

    def text(self) -> str:
        return self.response.text() if self.response is not None else ""

    def usage(self) -> tuple[Usage | None, bool]:
        """Tokens used and whether they are an estimate (cancelled, or none reported)."""
        if self.response is not None and self.response.usage is not None:
            return self.response.usage, False
        if self.response is not None:
            completion = estimate_text_tokens(self.text())
            return Usage.of(self.prompt_tokens, completion), True
        if self.status == "cancelled" or self.progress.parts:
            return Usage.of(self.prompt_tokens, estimate_text_tokens(self.progress.text())), True
        return None, False

    def cost_usd(self) -> float:
        usage, _ = self.usage()
        return cost_usd(self.model, usage) if usage else 0.0


Enough = Callable[[list[ModelRun]], bool]


@dataclass
class FanOutResult:
    #: every model's run, in the order the models were given
    runs: list[ModelRun]
    #: the runs that finished (answer or error), in the order they finished
    arrived: list[ModelRun]
    #: ``enough`` was satisfied and the rest were cancelled
    early: bool
    #: ``enough`` was satisfied by the answers in hand (early, or at the last arrival)
    satisfied: bool


class FanOut:
    def __init__(
        self, registry: Registry, runner: FallbackRunner, metrics: MetricsRecorder
    ) -> None:
        self.registry = registry
        self.runner = runner
        self.metrics = metrics

    async def call(self, model: ModelInfo, request: ChatRequest, budget: float) -> ModelRun:
        """One model, retried within ``budget`` seconds; never raises but CancelledError."""
        run = ModelRun(model, prompt_tokens=estimate_prompt_tokens(request))
        await self._call_into(run, request, budget)
        return run

    async def _call_into(self, run: ModelRun, request: ChatRequest, budget: float) -> None:
        model = run.model
        plan = RoutePlan("multi", None, run.prompt_tokens, [Candidate(model, 0.0, {})])

        async def attempt(_: Candidate, call_budget: float) -> ChatResponse:
            run.progress = Progress()
            provider = self.registry.get(model.provider)
            options = CallOptions(timeout=call_budget, model=model)
            if "streaming" in model.capabilities:
                chunks = provider.stream(request, model.upstream, options)
                return await collect(chunks, model, run.progress)
            return await provider.complete(request, model.upstream, options)

        try:
            async with asyncio.timeout(budget + HARD_STOP_GRACE_S):
                outcome = await self.runner.run(plan, attempt, Deadline(budget))
        except AllCandidatesFailed as exc:
            run.status, run.error, run.attempts = "error", exc.last or exc, exc.attempts
        except OrchestraError as exc:  # a client error the vendor reported: no retry
            run.status, run.error = "error", exc
        except TimeoutError:
            run.status, run.error = "error", _timeout(model, f"no answer within {budget:.3g} s")
        except Exception:  # a bug must cost one model, not the request
            log.exception("unexpected failure calling %s", model.id)
            run.status = "error"
            run.error = MalformedResponse(
                f"unexpected failure calling {model.id}", provider=model.provider, model=model.id
            )
        else:
            run.status, run.response, run.attempts = "ok", outcome.value, outcome.attempts
            run.response.model = model.id
            self._record(run)
            if not run.text().strip():  # e.g. a reasoning model that spent max_tokens thinking
                run.status = "error"
                run.error = MalformedResponse(
                    f"{model.id} returned no text (finish_reason: {_finish_of(run.response)})",
                    provider=model.provider,
                    model=model.id,
                    code="empty_answer",
                )
        finally:
            run.finished = time.perf_counter()

    def _record(self, run: ModelRun) -> None:
        usage, _ = run.usage()
        completion = usage.completion_tokens if usage else 0
        self.metrics.record(
            run.model.id,
            latency_ms=run.latency_ms,
            prompt_tokens=usage.prompt_tokens if usage else 0,
            completion_tokens=completion,
            cost_usd=run.cost_usd(),
            error=False,
            speed_sample_ms=comparable_latency_ms(run.model, run.latency_ms, completion),
        )

    async def run(
        self,
        models: Sequence[ModelInfo],
        request: ChatRequest,
        *,
        timeout_s: float,
        deadline: Deadline,
        enough: Enough | None = None,
        on_arrival: Callable[[ModelRun], None] | None = None,
    ) -> FanOutResult:
        prompt_tokens = estimate_prompt_tokens(request)
        runs = [ModelRun(m, prompt_tokens=prompt_tokens) for m in models]
        budget = min(timeout_s, deadline.remaining())
        tasks = {asyncio.create_task(self._call_into(run, request, budget)): run for run in runs}
        arrived: list[ModelRun] = []
        pending = set(tasks)
        early = False
        try:
            while pending and not early:
                done, pending = await asyncio.wait(
                    pending, timeout=deadline.remaining(), return_when=asyncio.FIRST_COMPLETED
                )
                if not done:  # the deadline passed
                    break
                landed = sorted((tasks[t] for t in done), key=lambda r: r.finished or 0.0)
                arrived += landed
                if on_arrival is not None:
                    for run in landed:
                        on_arrival(run)
                early = bool(pending) and enough is not None and enough(arrived)
        finally:
            await _cancel(pending)
        for task in pending:
            run = tasks[task]
            if not task.cancelled():  # it finished while the others were being cancelled
                arrived.append(run)
            elif not early:
                run.status = "error"
                run.error = _timeout(run.model, "the request's deadline ended first")
        satisfied = early or (enough is not None and enough(arrived))
        return FanOutResult(runs, arrived, early, satisfied)


async def _cancel(tasks: set[asyncio.Task[None]]) -> None:
    """Cancel and wait, so streams are closed before the answer leaves."""
    for task in tasks:
        task.cancel()
    if tasks:
        await asyncio.wait(tasks)


def _finish_of(response: ChatResponse) -> str | None:
    return response.choices[0].finish_reason if response.choices else None


def _timeout(model: ModelInfo, message: str) -> ProviderTimeout:
    return ProviderTimeout(
        f"{model.id}: {message}", provider=model.provider, model=model.id, code="model_timeout"
    )
