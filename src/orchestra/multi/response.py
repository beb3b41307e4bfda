"""A fused outcome as the wire response: the answer, the evidence, the totals."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from orchestra.errors import OrchestraError
from orchestra.fusion.agreement import Clustering
from orchestra.fusion.prompts import Verdict
from orchestra.fusion.strategies import Answer, Decision
from orchestra.panel.fanout import FanOutResult, ModelRun
from orchestra.panel.selection import Selection
from orchestra.schemas.chat import AssistantMessage, Choice, Usage
from orchestra.schemas.multi import (
    AuxiliaryCall,
    ClusterInfo,
    ErrorInfo,
    FusionDetail,
    ModelResult,
    MultiGenerateResponse,
    MultiOptions,
)

Scrub = Callable[[str], str]


@dataclass
class Outcome:
    """Everything one multi-generate produced, filled in as it goes."""

    selection: Selection
    fanout: FanOutResult
    #: the runs that answered, in the order they answered (``answers`` follows it)
    answered: list[ModelRun]
    answers: list[Answer]
    options: MultiOptions
    clustering: Clustering = field(default_factory=lambda: Clustering([], []))
    decision: Decision | None = None
    #: the judge's or the synthesiser's call
    aux: ModelRun | None = None
    verdict: Verdict | None = None


def error_info(error: OrchestraError | None, scrub: Scrub) -> ErrorInfo | None:
    if error is None:
        return None
    return ErrorInfo(
        message=scrub(error.message), type=error.type, code=error.code, status=error.status
    )


def _result(run: ModelRun, scrub: Scrub) -> ModelResult:
    usage, estimated = run.usage()
    return ModelResult(
        model=run.model.id,
        provider=run.model.provider,
        status=run.status,
        answer=run.text() if run.response is not None else None,
        finish_reason=run.response.choices[0].finish_reason if run.response else None,
        latency_ms=round(run.latency_ms, 2),
        usage=usage,
        usage_estimated=estimated,
        cost_usd=round(run.cost_usd(), 10),
        error=error_info(run.error, scrub),
        attempts=[a.header_value() for a in run.attempts],
    )


def _results(outcome: Outcome, scrub: Scrub) -> list[ModelResult]:
    decision = outcome.decision
    assert decision is not None
    by_run = {id(run): i for i, run in enumerate(outcome.answered)}
    results = []
    for run in outcome.fanout.runs:
        result = _result(run, scrub)
        index = by_run.get(id(run))
        if index is not None:
            result.cluster = outcome.clustering.cluster_of(index)
            result.score = decision.scores.get(index)
        results.append(result)
    for model, reason in outcome.selection.skipped:
        code = reason.split("(", 1)[0]
        error = ErrorInfo(
            message=f"not called: {reason}", type="invalid_request_error", code=code, status=400
        )
        results.append(
            ModelResult(model=model.id, provider=model.provider, status="skipped", error=error)
        )
    return results


def _aux(outcome: Outcome, scrub: Scrub) -> AuxiliaryCall | None:
    run = outcome.aux
    if run is None:
        return None
    usage, _ = run.usage()
    call = AuxiliaryCall(
        model=run.model.id,
        status=run.status,
        latency_ms=round(run.latency_ms, 2),
        usage=usage,
        cost_usd=round(run.cost_usd(), 10),
        error=error_info(run.error, scrub),
    )
    if outcome.verdict is not None:
        call.picked = outcome.answers[outcome.verdict.index].model.id
        call.reason = outcome.verdict.reason
    return call


def _clusters(outcome: Outcome) -> list[ClusterInfo]:
    clustering = outcome.clustering
    weights = [a.voter.accuracy for a in outcome.answers]
    return [
        ClusterInfo(
            models=[outcome.answers[i].model.id for i in members],
            share=round(clustering.share(c), 4),
            key=outcome.answers[clustering.medoid(c, weights)].normalized.key[:200],
        )
        for c, members in enumerate(clustering.clusters)
    ]


def _total_usage(runs: list[ModelRun]) -> Usage:
    prompt = completion = 0
    for run in runs:
        usage, _ = run.usage()
        if usage is not None:
            prompt += usage.prompt_tokens
            completion += usage.completion_tokens
    return Usage.of(prompt, completion)


def build_response(outcome: Outcome, started: float, scrub: Scrub) -> MultiGenerateResponse:
    decision = outcome.decision
    assert decision is not None
    answers = outcome.answers
    winner = answers[decision.winner] if decision.winner is not None else None
    finish = winner.finish_reason if winner is not None else "stop"
    billed = [*outcome.fanout.runs, *([outcome.aux] if outcome.aux else [])]
    notes = [n for n in (outcome.selection.note, decision.note) if n]
    quorum = outcome.options.quorum
    return MultiGenerateResponse(
        model=winner.model.id if winner else f"orchestra/fusion:{decision.applied}",
        choices=[
            Choice(
                message=AssistantMessage(content=decision.content),
                finish_reason=finish or "stop",  # type: ignore[arg-type]
            )
        ],
        usage=_total_usage(billed),
        strategy=outcome.options.strategy,
        agreement=decision.agreement(),
        confidence=decision.confidence(answers),
        winner=winner.model.id if winner else None,
        cost_usd=round(sum(r.cost_usd() for r in billed), 10),
        latency_ms=round((time.perf_counter() - started) * 1000.0, 2),
        results=_results(outcome, scrub),
        fusion=FusionDetail(
            applied=decision.applied,  # type: ignore[arg-type]
            note="; ".join(notes) or None,
            clusters=_clusters(outcome),
            judge=_aux(outcome, scrub) if outcome.options.strategy == "judge" else None,
            synthesizer=_aux(outcome, scrub) if outcome.options.strategy == "merge" else None,
            quorum_reached=outcome.fanout.satisfied if quorum is not None else None,
        ),
    )
