"""A chosen stream relayed to the client, and continued elsewhere when it breaks.

:class:`StreamRelay` is the streaming half of :class:`~orchestra.generate.service.Generate`:
it renames each chunk to the id and model the client saw first, turns our own deadline into
a typed error, and, when the upstream fails after the first byte, continues the answer on
the rest of the chain (:mod:`orchestra.generate.continuation`: prefill or instruction, the
overlap dropped by :mod:`orchestra.generate.overlap`) so the client reads one answer.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from orchestra.catalog.pricing import cost_usd
from orchestra.errors import MalformedResponse, OrchestraError, ProviderError, StreamInterrupted
from orchestra.generate.continuation import (
    SentSoFar,
    Stitch,
    continuation_request,
    reason_of,
    refusal,
    rest_of_chain,
    supports_prefill,
)
from orchestra.generate.overlap import Joiner
from orchestra.resilience.breaker import Permit
from orchestra.resilience.fallback import Attempt, Call, Outcome
from orchestra.resilience.retry import Deadline
from orchestra.routing.router import Candidate
from orchestra.schemas.chat import ChatChunk, ChatRequest
from orchestra.schemas.options import header_options
from orchestra.tokens import estimate_prompt_tokens

if TYPE_CHECKING:
    from orchestra.generate.results import StreamHandle
    from orchestra.generate.service import Generate

log = logging.getLogger("orchestra.generate")


@dataclass(frozen=True, slots=True)
class Resumed:
    """A continuation that has started: its first chunk, the rest, how it was asked."""

    first: ChatChunk
    chunks: AsyncIterator[ChatChunk]
    prefill: bool
    prompt_tokens: int


class StreamRelay:
    """Relays one gateway's streams (its registry, runner, breakers, stats, policies)."""

    def __init__(self, gateway: Generate) -> None:
        self.gateway = gateway

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
                    chunk = await next_chunk(handle.rest, handle.deadline)
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
            self.gateway.stats.finished(handle.model.id)  # its call is no longer in flight
            await close(handle.rest)  # the client may have gone: release the upstream
        self.gateway.completed(handle)

    def _deadline_error(self, handle: StreamHandle) -> StreamInterrupted:
        return StreamInterrupted(
            f"{handle.model.id} was still answering when the request's deadline "
            f"({self.gateway.deadline_s:g} s) ended",
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
        broken, deadline = handle.model, handle.deadline or Deadline(self.gateway.deadline_s)
        rest = rest_of_chain(handle.plan, broken.id)
        why = "no_candidate_left" if not rest else None
        why = why or refusal(
            self.gateway.continuation,
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
            outcome = await self.gateway.runner.run(
                plan,
                call,
                deadline,
                budgets=self.gateway.budgets,  # a hung candidate costs its budget here too
                stats=self.gateway.stats,
                streamed=True,
                release=close_resumed,
            )
        except OrchestraError as failed:
            handle.attempts.extend(getattr(failed, "attempts", None) or [])
            log.warning("stream from %s could not be continued: %s", broken.id, failed.code)
            raise error from exc
        await close(handle.rest)  # the broken stream (it has failed: this only releases it)
        self.gateway.stats.finished(broken.id)
        self._joined(handle, sent, stitch, outcome, reason_of(exc), partial)
        return outcome.value.first

    def _continuation_call(self, request: ChatRequest, partial: str) -> Call[Resumed]:
        async def call(candidate: Candidate, budget: float) -> Resumed:
            provider = self.gateway.registry.get(candidate.model.provider)
            upstream = candidate.model.upstream
            prefill = supports_prefill(provider, upstream)
            asked = continuation_request(request, partial, prefill=prefill)
            options = self.gateway.call_options(candidate, budget)
            chunks = provider.stream(asked, upstream, options).__aiter__()
            first = await first_chunk(chunks, candidate)
            return Resumed(first, chunks, prefill, estimate_prompt_tokens(asked))

        return call

    def _joined(
        self,
        handle: StreamHandle,
        sent: SentSoFar,
        stitch: Stitch,
        outcome: Outcome[Resumed],
        reason: str,
        partial: str,
    ) -> None:
        """Bookkeeping once a continuation has started: the broken call's usage and cost
        carried, the attempts, the model that now answers, the log line."""
        broken, resumed = handle.model, outcome.value
        usage = sent.call_usage(stitch.prompt_tokens or handle.plan.prompt_tokens)
        handle.carried_cost_usd += cost_usd(broken, usage)
        to = outcome.candidate.model
        record = {"from": broken.id, "to": to.id, "after_chars": len(partial), "reason": reason}
        stitch.join(record, Joiner(partial, prefill=resumed.prefill), usage)
        stitch.prompt_tokens = resumed.prompt_tokens
        handle.usage = handle.carried_usage = stitch.carried
        ms = ms_since(sent.call_started)
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
        await self.gateway.breaker.record_failure(model.id, Permit(probe=False))
        self.gateway.stats.failed(model.id)  # load balancing sees streams that break too
        self.gateway.observer.attempt(model.id, error, ms_since(handle.started))
        return StreamInterrupted(
            f"{model.id} failed after the answer had started: {summary}",
            provider=model.provider,
            model=model.id,
        )


class DeadlineEnded(Exception):
    """The request's deadline passed while waiting for the next chunk."""


async def next_chunk(
    chunks: AsyncIterator[ChatChunk], deadline: Deadline | None
) -> ChatChunk | None:
    """The next chunk; :class:`DeadlineEnded` once the request's deadline has passed."""
    if deadline is None:
        return await anext(chunks, None)
    try:
        async with asyncio.timeout(deadline.remaining()):  # a timer, not a task per chunk
            return await anext(chunks, None)
    except TimeoutError as exc:
        if deadline.expired():
            raise DeadlineEnded from exc
        raise


async def first_chunk(chunks: AsyncIterator[ChatChunk], candidate: Candidate) -> ChatChunk:
    try:
        return await chunks.__anext__()
    except StopAsyncIteration as exc:
        raise MalformedResponse(
            "upstream closed the stream before sending anything",
            provider=candidate.model.provider,
            model=candidate.model.id,
        ) from exc


async def close(chunks: AsyncIterator[ChatChunk] | None) -> None:
    closer = getattr(chunks, "aclose", None)
    if closer is not None:
        await closer()


async def close_stream(value: tuple[ChatChunk, AsyncIterator[ChatChunk]]) -> None:
    """Release a stream that lost a hedge race: its iterator closed, its connection with it."""
    await close(value[1])


async def close_resumed(value: Resumed) -> None:
    """Release a continuation that lost a race (its connection closed)."""
    await close(value.chunks)


def ms_since(started: float) -> float:
    return (time.perf_counter() - started) * 1000.0
