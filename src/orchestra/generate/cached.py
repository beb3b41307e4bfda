"""The generate use case's side of the answer cache (``cache/policy.py``).

What an answer served from cache looks like to the rest of the pipeline: the model that
answered originally (from the catalog, or a stand-in when it has left it), an empty route
plan (nothing was planned), the stored answer's stream replayed as chunks; and a streamed
miss captured as it is relayed, stored once it ended whole.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar

from orchestra.cache.capture import StreamCapture
from orchestra.cache.records import CachedAnswer
from orchestra.cache.repeat import note_hit, repeat_slot
from orchestra.catalog.models import ModelInfo
from orchestra.errors import AllCandidatesFailed, NoCandidates
from orchestra.generate.relay import close
from orchestra.routing.router import RoutePlan
from orchestra.schemas.chat import ChatChunk

if TYPE_CHECKING:
    from orchestra.cache.policy import AnswerCache, Lookup
    from orchestra.catalog.source import CatalogSource
    from orchestra.errors import OrchestraError
    from orchestra.generate.results import StreamHandle
    from orchestra.governance.admission import Admission
    from orchestra.governance.policies import RequestPolicies


def cached_model(catalog: CatalogSource, model_id: str) -> ModelInfo:
    """The model that answered originally, as the catalog knows it (no I/O)."""
    models = catalog.cached
    if model_id in models:
        return models.get(model_id)
    return ModelInfo(id=model_id, context_window=1, input_price=0, output_price=0, quality=0)


def no_plan() -> RoutePlan:
    """The plan of an answer served from cache: none was made."""
    return RoutePlan(profile="cache", complexity=None, prompt_tokens=0, candidates=[])


R = TypeVar("R")


async def through_cache(
    cache: AnswerCache,
    lookup: Lookup,
    plan_of: Callable[[], Awaitable[RoutePlan]],
    run: Callable[[RoutePlan], Awaitable[R]],
) -> R | CachedAnswer:
    """A fresh cached answer; else the route planned and ``run`` (its miss counted, once,
    whether it answers or raises); a stale answer instead when every breaker is open or
    every candidate failed, and the request allows one (:func:`stale_first`,
    :func:`stale_or_raise`). The caller stores what ``run`` answered."""
    answer = await cache.find(lookup)
    if answer is not None:
        return answer
    try:
        plan = await plan_of()
        answer = await stale_first(cache, lookup, plan)
        if answer is not None:
            return answer
        result = await run(plan)
    except (NoCandidates, AllCandidatesFailed) as failed:
        return await stale_or_raise(cache, lookup, failed)
    except Exception:  # refused, invalid, ...: still counted, once (its miss)
        cache.missed(lookup)
        raise
    cache.missed(lookup)
    return result


async def stale_first(cache: AnswerCache, lookup: Lookup, plan: RoutePlan) -> CachedAnswer | None:
    """Every candidate's breaker is open (the chain holds only last resorts, each waiting on
    its cooldown): the stale answer at once when the request allows one, rather than after
    that wait; None otherwise (the chain runs as ever)."""
    if not lookup.plan.allow_stale or not plan.held or not plan.candidates:
        return None
    held = {id(candidate) for candidate in plan.held}
    if any(id(candidate) not in held for candidate in plan.candidates):
        return None
    return await cache.stale(lookup)


async def stale_or_raise(
    cache: AnswerCache, lookup: Lookup, failed: OrchestraError
) -> CachedAnswer:
    """Every candidate failed: the key's entry past its TTL when the request allows stale
    answers, else the failure itself."""
    answer = await cache.stale(lookup)
    if answer is None:
        raise failed
    return answer


def note_repeatable(
    lookup: Lookup,
    answer: CachedAnswer,
    admission: Admission | None,
    policies: RequestPolicies | None,
) -> None:
    """A buffered hit the edge may serve again as is (``api/fast_hits.py``): only when no
    guardrail applies to the key (no input check, no output redaction, no Bedrock) and none
    flagged it, since those must run on every request."""
    if repeat_slot.get() is None:
        return
    if admission is None:
        note_hit(lookup, answer, None, None)
        return
    modes = admission.guardrails
    if admission.flags or modes.checks_input or modes.redact_output:
        return
    if policies is not None and policies.guards.bedrock is not None:
        return
    note_hit(lookup, answer, admission.key, admission.team)


async def replayed(handle: StreamHandle) -> AsyncIterator[ChatChunk]:
    """A cached answer's chunks (``cache/replay.py``), as a live stream's."""
    chunk = handle.first
    rest = handle.rest
    while chunk is not None:
        yield chunk
        chunk = await anext(rest, None) if rest is not None else None


async def captured(
    cache: AnswerCache, lookup: Lookup, handle: StreamHandle, chunks: AsyncIterator[ChatChunk]
) -> AsyncIterator[ChatChunk]:
    """``chunks`` relayed as they are, the answer stored once the stream ended whole (a
    failure or a client gone ends this generator before that: nothing stored)."""
    capture = StreamCapture()
    try:
        async for chunk in chunks:
            capture.feed(chunk)  # before the reader sees it (it may drop the usage)
            yield chunk
    finally:
        await close(chunks)
    response = capture.response()
    if response is not None:
        model = handle.model
        response.model = model.id
        cache.keep(lookup, response, model.id, model.provider, handle.cost_usd)
