"""The multi-generate use case: select models, fan out, fuse, account.

Time: the request has one deadline (``deadline_s``, capped by the server's: a streamed request,
whose progress comments keep the connection open, by the longer ``stream_deadline_s``). Strategies that
make a call after the fan-out (``judge``, ``merge`` with a synthesiser) keep
:func:`aux_reserve_s` of it back for that call; each model gets ``timeout_s`` (default: the
whole fan-out budget). ``first`` and ``quorum`` end the fan-out early and cancel the rest.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from orchestra.catalog.models import Catalog, ModelInfo
from orchestra.catalog.source import CatalogSource
from orchestra.errors import AllModelsFailed, InvalidRequest, OrchestraError, PolicyRefusal
from orchestra.fusion.agreement import Voter, accuracy_of
from orchestra.fusion.prompts import judge_request, parse_verdict, synthesis_request
from orchestra.fusion.strategies import (
    Answer,
    Decision,
    clustering_of,
    first,
    judged,
    merge_sections,
    rank,
    vote,
)
from orchestra.governance.admission import current_admission
from orchestra.multi.response import Outcome, build_response
from orchestra.observability import Fused, LogObserver, Observer
from orchestra.panel.fanout import FanOut, FanOutResult, ModelRun
from orchestra.panel.selection import Selection, Selector
from orchestra.panel.summary import summary
from orchestra.resilience.fallback import Attempt
from orchestra.resilience.retry import Deadline
from orchestra.schemas.chat import ChatRequest
from orchestra.schemas.multi import MultiGenerateRequest, MultiGenerateResponse, MultiOptions
from orchestra.storage.model_stats import MetricsRecorder

if TYPE_CHECKING:
    from orchestra.governance.policies import RequestPolicies

Strategy = Callable[..., Decision]
SIMPLE: dict[str, Strategy] = {"vote": vote, "rank": rank, "first": first}


def aux_reserve_s(deadline_s: float) -> float:
    """Time kept for the judge or synthesiser: 40 % of the deadline, at least 10 s of it
    when there is that much, at most 120 s (a reasoning judge reads five answers)."""
    return min(deadline_s * 0.4, max(10.0, min(120.0, deadline_s * 0.25)))


@dataclass
class Limits:
    max_models: int = 8
    default_count: int = 3
    deadline_s: float = 25.0
    #: a streamed request's cap (None: ``deadline_s``)
    stream_deadline_s: float | None = None


class MultiGenerate:
    """``selector`` picks the panel (its ``max_models``/``default_count`` are the limits');
    ``fanout`` calls it; ``metrics`` is flushed after each request; ``observer`` hears of
    each fused answer; ``scrub`` cleans every message a client sees."""

    def __init__(
        self,
        *,
        catalog: CatalogSource,
        selector: Selector,
        fanout: FanOut,
        metrics: MetricsRecorder,
        observer: Observer | None = None,
        limits: Limits | None = None,
        scrub: Callable[[str], str] = str,
        policies: RequestPolicies | None = None,
    ) -> None:
        self.catalog = catalog
        self.selector = selector
        self.fanout = fanout
        self.metrics = metrics
        self.observer: Observer = observer or LogObserver()
        self.limits = limits or Limits()
        self.scrub = scrub
        #: guardrails on the question and the fused answer (None: governance off)
        self.policies = policies

    async def run(
        self,
        request: MultiGenerateRequest,
        *,
        streamed: bool = False,
        on_arrival: Callable[[ModelRun], None] | None = None,
    ) -> MultiGenerateResponse:
        """Fan out and fuse. ``streamed``: the caller streams progress (``on_arrival``, one
        call per model as it finishes), so the longer streaming cap applies."""
        started = time.perf_counter()
        options, chat = request.options, request.chat
        _refuse_unsupported(chat)
        admission = current_admission.get() if self.policies is not None else None
        if admission is not None and self.policies is not None:
            await self.policies.before(chat, admission)
        cap = self.limits.deadline_s
        if streamed and self.limits.stream_deadline_s is not None:
            cap = self.limits.stream_deadline_s
        deadline_s = min(options.deadline_s or cap, cap)
        deadline = Deadline(deadline_s)
        catalog = await self.catalog.current()
        pool = self._auxiliary_pool(options, chat, catalog)
        selection = await self.selector.select(options, chat, catalog, [m.id for m in pool])
        aux = self._auxiliary(options, selection, pool)
        reserve = aux_reserve_s(deadline_s) if aux is not None else 0.0
        result = await self.fanout.run(
            selection.models,
            chat,
            timeout_s=options.timeout_s or deadline_s,
            deadline=Deadline(deadline_s - reserve),
            enough=_enough(options),
            on_arrival=on_arrival,
        )
        answered = [r for r in result.arrived if r.status == "ok"]
        if not answered:
            raise _all_failed(result, self.scrub)
        answers = [Answer.of(r.model, r.text(), _finish(r)) for r in answered]
        outcome = Outcome(selection, result, answered, answers, options)
        await self._fuse(outcome, chat, aux, deadline)
        response = build_response(outcome, started, self.scrub)
        if admission is not None and self.policies is not None:
            await self.policies.after(response, admission)
        self._observe(response)
        self.metrics.flush_soon()
        return response

    def _auxiliary_pool(
        self, options: MultiOptions, chat: ChatRequest, catalog: Catalog
    ) -> list[ModelInfo]:
        """Default judge/synthesiser candidates; a named one is resolved now (fails fast)."""
        if options.strategy == "judge" and options.judge is not None:
            return [self.selector.named_auxiliary(catalog, options.judge, "judge")]
        if options.strategy == "merge" and options.synthesizer not in (None, "auto", "none"):
            return [self.selector.named_auxiliary(catalog, options.synthesizer, "synthesizer")]
        if options.strategy == "judge" or (
            options.strategy == "merge" and options.synthesizer != "none"
        ):
            return self.selector.auxiliary_pool(catalog, chat)
        return []

    def _auxiliary(
        self, options: MultiOptions, selection: Selection, pool: list[ModelInfo]
    ) -> ModelInfo | None:
        """The judge (best of the pool not among the candidates) or the synthesiser."""
        if not pool:
            return None
        named = options.judge if options.strategy == "judge" else options.synthesizer
        if named not in (None, "auto"):
            return pool[0]  # asked for by name: used even if its breaker is open
        if options.strategy == "judge":
            return self.selector.auxiliary(pool, [m.id for m in selection.models])
        return self.selector.auxiliary(pool)

    async def _fuse(
        self, outcome: Outcome, chat: ChatRequest, aux: ModelInfo | None, deadline: Deadline
    ) -> None:
        strategy = outcome.options.strategy
        answers = outcome.answers
        outcome.clustering = clustering_of(answers, outcome.options.similarity_threshold)
        if strategy in SIMPLE:
            outcome.decision = SIMPLE[strategy](answers, outcome.clustering)
        elif strategy == "judge":
            await self._judge(outcome, chat, aux, deadline)
        else:
            await self._merge(outcome, chat, aux, deadline)

    async def _judge(
        self, outcome: Outcome, chat: ChatRequest, judge: ModelInfo | None, deadline: Deadline
    ) -> None:
        answers, clustering = outcome.answers, outcome.clustering
        if len(answers) == 1 or judge is None:
            outcome.decision = vote(answers, clustering)
            why = "only one answer arrived" if len(answers) == 1 else "no judge model available"
            outcome.decision.note = f"{why}: vote decided"
            return
        request = judge_request(chat.messages, [a.text for a in answers])
        run = await self.fanout.call(judge, request, deadline.remaining())
        outcome.aux = run
        verdict = parse_verdict(run.text(), len(answers)) if run.status == "ok" else None
        if verdict is None:
            why = summary(run.error) if run.error is not None else "no readable verdict"
            outcome.decision = vote(answers, clustering)
            outcome.decision.note = f"judge {judge.id} failed ({why}): vote decided"
            return
        voter = Voter(judge.id, judge.id, accuracy_of(judge.quality))
        outcome.decision = judged(answers, clustering, verdict.index, voter)
        outcome.verdict = verdict

    async def _merge(
        self, outcome: Outcome, chat: ChatRequest, synth: ModelInfo | None, deadline: Deadline
    ) -> None:
        answers, clustering = outcome.answers, outcome.clustering
        if synth is None or len(clustering.clusters) == 1:
            outcome.decision = merge_sections(answers, clustering)
            if synth is None and len(clustering.clusters) > 1:
                outcome.decision.note = "no synthesiser: attributed sections"
            return
        request = synthesis_request(chat.messages, [a.text for a in answers], chat.output_limit())
        run = await self.fanout.call(synth, request, deadline.remaining())
        outcome.aux = run
        if run.status != "ok" or not run.text().strip():
            why = summary(run.error) if run.error is not None else "an empty answer"
            outcome.decision = merge_sections(answers, clustering)
            outcome.decision.note = f"synthesiser {synth.id} failed ({why}): attributed sections"
            return
        note = f"merged by {synth.id}"
        outcome.decision = Decision("merge", run.text(), clustering, None, 0, note=note)

    def _observe(self, response: MultiGenerateResponse) -> None:
        answered = sum(1 for r in response.results if r.status == "ok")
        self.observer.fused(
            Fused(
                response.strategy,
                models=len(response.results),
                answered=answered,
                agreement=response.agreement,
                confidence=response.confidence,
                cost_usd=response.cost_usd,
                latency_ms=response.latency_ms,
            )
        )


def _refuse_unsupported(chat: ChatRequest) -> None:
    if chat.stream:  # the route streams progress, then the fused answer; never the models
        raise InvalidRequest(
            "multi-generate fuses whole answers: the models are never streamed",
            param="stream",
        )
    if chat.tools:
        raise InvalidRequest(
            "multi-generate fuses text answers: 'tools' is not supported", param="tools"
        )


def _enough(options: MultiOptions) -> Callable[[list[ModelRun]], bool] | None:
    quorum = 1 if options.strategy == "first" else options.quorum
    if quorum is None:
        return None
    if options.strategy != "vote":
        return lambda arrived: sum(r.status == "ok" for r in arrived) >= quorum

    def agreed(arrived: list[ModelRun]) -> bool:
        answers = [Answer.of(r.model, r.text()) for r in arrived if r.status == "ok"]
        if len(answers) < quorum:
            return False
        return len(clustering_of(answers, options.similarity_threshold).largest()) >= quorum

    return agreed


def _finish(run: ModelRun) -> str | None:
    response = run.response
    return response.choices[0].finish_reason if response and response.choices else None


def _all_failed(result: FanOutResult, scrub: Callable[[str], str]) -> OrchestraError:
    """Why no model answered: the refusal itself when a policy refused every model (a
    budget's 429 says more than "every model failed"), else every model's failure."""
    refusals = [r.error for r in result.runs if isinstance(r.error, PolicyRefusal)]
    if refusals and len(refusals) == len(result.runs):
        return refusals[0]
    parts = []
    attempts: list[Attempt] = []
    for run in result.runs:
        why = summary(run.error) if run.error is not None else run.status
        parts.append(f"{run.model.id}: {why}")
        attempts += run.attempts or [Attempt(run.model.id, run.model.provider, why, 0.0)]
    message = scrub("Every model failed (" + "; ".join(parts) + ")")
    return AllModelsFailed(message, attempts=attempts)
