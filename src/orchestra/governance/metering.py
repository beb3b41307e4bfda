"""Metering every upstream call against the ledger: hold the worst case, settle the actual.

:class:`MeteredProvider` wraps each provider of the registry (the composition root does).
When the current request's :class:`~orchestra.governance.admission.Admission` has a ledger
and the call says which model it prices (``CallOptions.model``), a call is:

1. a **hold** of its worst-case cost (estimated prompt tokens x input price + the request's
   output limit, else the model's, x output price) and tokens; the request's first hold
   also counts the request and its token estimate against rpm/tpm (one round trip);
2. the call itself;
3. a **settle** to the actual cost (the usage priced), or, when the call failed before any
   output, a **release**. A stream settles when it ends or is closed (from its usage chunk,
   else an estimate of what was relayed). A spend row is written beside the settle.

A refusal (:class:`~orchestra.errors.BudgetExceeded`, ``RequestRateLimited``) is raised
before the upstream is called: nothing is charged. No hold outlives a cancelled call: the
ledger's answer, if it comes after the cancellation, is released in the background.

Without an admission, or with nothing metered, a call goes straight to the provider: no
await, no allocation added (governance off costs nothing per call).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from orchestra.catalog.pricing import cost_nanos, worst_case_nanos
from orchestra.errors import PolicyRefusal
from orchestra.governance.admission import Admission, current_admission
from orchestra.governance.deferred import defer
from orchestra.governance.protocols import SpendBackend, SpendRow
from orchestra.governance.records import Nanos
from orchestra.schemas.chat import ChatChunk, ChatRequest, ChatResponse, Usage
from orchestra.tokens import CHARS_PER_TOKEN, estimate_prompt_tokens, estimate_text_tokens

if TYPE_CHECKING:
    from orchestra.catalog.models import ModelInfo
    from orchestra.observability import Observer
    from orchestra.providers.base import CallOptions, Provider
    from orchestra.providers.embeddings import EmbeddingClient

log = logging.getLogger("orchestra.governance")

#: background releases and settles, referenced until done (a task nobody holds may vanish)
_BACKGROUND: set[asyncio.Future[Any]] = set()


def in_background(work: Awaitable[Any]) -> asyncio.Future[Any]:
    """Run ``work`` to its end even if the awaiting task is cancelled."""
    task = asyncio.ensure_future(work)
    _BACKGROUND.add(task)
    task.add_done_callback(_BACKGROUND.discard)
    return task


def prompt_tokens_of(admission: Admission, request: ChatRequest) -> int:
    """The request's prompt estimate, made once per request object (a hedge, a retry and
    the fan-out's members ask the same request)."""
    cached = admission.prompt
    if cached is not None and cached[0] is request:
        return cached[1]
    tokens = estimate_prompt_tokens(request)
    admission.prompt = (request, tokens)
    return tokens


class MeteredCall:
    """One held upstream call: settled or released exactly once."""

    __slots__ = ("admission", "done", "hold", "meter", "model", "prompt_tokens")

    def __init__(
        self, meter: Meter, admission: Admission, model: ModelInfo, hold: Any, prompt_tokens: int
    ) -> None:
        self.meter, self.admission, self.model = meter, admission, model
        self.hold, self.prompt_tokens, self.done = hold, prompt_tokens, False

    async def release(self) -> None:
        """Give the hold back (the call failed before any output); survives cancellation."""
        if self.done:
            return
        self.done = True
        await asyncio.shield(in_background(self.meter.released(self.admission, self.hold)))

    async def settle(self, usage: Usage | None, relayed_chars: int = 0) -> None:
        """Charge the actual cost (``usage``; else estimated from ``relayed_chars``)."""
        if self.done:
            return
        self.done = True
        if usage is None:
            completion = int(relayed_chars / CHARS_PER_TOKEN) + 1 if relayed_chars else 0
            usage = Usage.of(self.prompt_tokens, completion)
        work = self.meter.settled(self.admission, self.hold, self.model, usage)
        await asyncio.shield(in_background(work))


class Meter:
    """Holds, settles and spend rows for the current admission's ledger."""

    def __init__(
        self,
        *,
        spend: SpendBackend | None = None,
        observer: Observer | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.spend = spend
        self.observer = observer
        self.clock = clock
        self._day = (-1, "")

    async def open(
        self, admission: Admission, model: ModelInfo, request: ChatRequest
    ) -> MeteredCall:
        """Hold a chat call's worst case (the request's prompt estimate, its output limit
        or the model's); raises the ledger's refusal (nothing held then)."""
        prompt = prompt_tokens_of(admission, request)
        output = request.output_limit() or model.max_output_tokens
        return await self.hold_for(admission, model, prompt, output)

    async def hold_for(
        self, admission: Admission, model: ModelInfo, prompt: int, output: int
    ) -> MeteredCall:
        """Hold ``prompt`` input and ``output`` output tokens of ``model``."""
        assert admission.ledger is not None
        nanos = worst_case_nanos(model, prompt, output)
        first, admission.counted = not admission.counted, True
        held = in_background(
            admission.ledger.hold(admission.scopes, nanos, prompt + output, count_request=first)
        )
        try:
            hold, states = await asyncio.shield(held)
        except asyncio.CancelledError:
            held.add_done_callback(lambda done: self._orphaned(admission, done))
            _uncount(admission, first)
            raise
        except PolicyRefusal as refusal:
            _uncount(admission, first)
            if self.observer is not None:
                self.observer.refused(refusal.code)
            raise
        except BaseException:
            _uncount(admission, first)
            raise
        if states:
            admission.rate = states
        return MeteredCall(self, admission, model, hold, prompt)

    def _orphaned(self, admission: Admission, done: asyncio.Future[Any]) -> None:
        """A hold that arrived after its call was cancelled: released at once."""
        if not done.cancelled() and done.exception() is None:
            in_background(self.released(admission, done.result()[0]))

    async def released(self, admission: Admission, hold: Any) -> None:
        assert admission.ledger is not None
        try:
            await admission.ledger.release(hold)
        except Exception:  # the hold expires (hold_ttl_s); the answer is not the client's
            log.warning("a hold could not be released (it expires)", exc_info=True)

    async def settled(
        self, admission: Admission, hold: Any, model: ModelInfo, usage: Usage
    ) -> None:
        """Settle and write the spend row concurrently: after the response when the
        request defers (``governance/deferred.py``), else now. A failure is logged, never
        the client's (the answer is already theirs)."""
        work = self._settle(admission, hold, model, usage)
        if defer(work) is None:
            await work

    async def _settle(
        self, admission: Admission, hold: Any, model: ModelInfo, usage: Usage
    ) -> None:
        assert admission.ledger is not None
        nanos = cost_nanos(model, usage)
        tokens = usage.prompt_tokens + usage.completion_tokens
        spent = None
        if self.spend is not None:  # beside the settle (as gather would, one task fewer)
            spent = asyncio.ensure_future(self.spend.add(self.row(admission, model, usage, nanos)))
        try:
            await admission.ledger.settle(hold, nanos, tokens)
        except Exception as exc:
            log.error("settling a call failed: %s", type(exc).__name__, exc_info=exc)
        if spent is not None:
            try:
                await spent
            except Exception as exc:
                log.error("a spend row was not written: %s", type(exc).__name__, exc_info=exc)

    def day(self) -> str:
        """Today (UTC) as ``YYYY-MM-DD``, formatted once per day."""
        number = int(self.clock() // 86_400)
        if number != self._day[0]:
            self._day = (number, datetime.fromtimestamp(number * 86_400, UTC).strftime("%Y-%m-%d"))
        return self._day[1]

    def row(self, admission: Admission, model: ModelInfo, usage: Usage, nanos: Nanos) -> SpendRow:
        day = self.day()
        team = admission.team.team_id if admission.team is not None else None
        return SpendRow(
            day=day,
            key_id=admission.key_id,
            team=team,
            model=model.id,
            cost_nanos=nanos,
            requests=1,
            prompt_tokens=usage.prompt_tokens,
            completion_tokens=usage.completion_tokens,
            cached_tokens=usage.cached_tokens,
        )


def _uncount(admission: Admission, first: bool) -> None:
    """The first hold did not happen: the next call's hold counts the request."""
    if first:
        admission.counted = False


def _metered(options: CallOptions) -> Admission | None:
    """The admission to meter this call against, or None (governance off, nothing metered,
    or a call that does not say its model)."""
    admission = current_admission.get()
    if admission is None or admission.ledger is None or options.model is None:
        return None
    return admission


class MeteredProvider:
    """A provider whose every call is held and settled (see the module's doc); everything
    else (``supports_prefill``, ``runs_builtin_tools``...) is the wrapped provider's."""

    def __init__(self, inner: Provider, meter: Meter) -> None:
        self.wrapped = inner
        self.name = inner.name
        self.meter = meter

    def __getattr__(self, name: str) -> Any:
        return getattr(self.wrapped, name)

    async def complete(
        self, request: ChatRequest, model: str, options: CallOptions
    ) -> ChatResponse:
        admission = _metered(options)
        if admission is None:
            return await self.wrapped.complete(request, model, options)
        assert options.model is not None
        call = await self.meter.open(admission, options.model, request)
        try:
            response = await self.wrapped.complete(request, model, options)
        except BaseException:
            await call.release()
            raise
        await call.settle(response.usage)
        return response

    def stream(
        self, request: ChatRequest, model: str, options: CallOptions
    ) -> AsyncIterator[ChatChunk]:
        admission = _metered(options)
        if admission is None:
            return self.wrapped.stream(request, model, options)
        return self._stream(admission, request, model, options)

    async def _stream(
        self, admission: Admission, request: ChatRequest, model: str, options: CallOptions
    ) -> AsyncIterator[ChatChunk]:
        """The wrapped stream, settled when it ends or is closed (``aclose``, a cancelled
        reader): from its usage chunk, else from the characters relayed; released when it
        failed before its first chunk."""
        assert options.model is not None
        call = await self.meter.open(admission, options.model, request)
        chunks = self.wrapped.stream(request, model, options).__aiter__()
        usage: Usage | None = None
        relayed, started = 0, False
        try:
            async for chunk in chunks:
                started = True
                if chunk.usage is not None:
                    usage = chunk.usage
                for choice in chunk.choices:
                    relayed += len(choice.delta.content or "")
                    relayed += len(choice.delta.reasoning_content or "")
                yield chunk
        except BaseException:
            if not started:  # nothing relayed: nothing to pay for
                await _close(chunks)
                await call.release()
            raise
        finally:
            if not call.done:  # ended, or closed by its reader (a hedge's loser, a client gone)
                await _close(chunks)
                await call.settle(usage, relayed)


async def _close(chunks: AsyncIterator[ChatChunk]) -> None:
    closer = getattr(chunks, "aclose", None)
    if closer is not None:
        try:
            await closer()
        except Exception:  # already failed or closed: closing only releases it
            log.debug("closing a metered stream failed", exc_info=True)


class MeteredEmbeddings:
    """An embedding client whose calls are held (the inputs' estimated tokens at the
    model's input price) and settled to the tokens the upstream reports."""

    def __init__(self, inner: EmbeddingClient, meter: Meter) -> None:
        self.wrapped = inner
        self.name = inner.name
        self.meter = meter

    def __getattr__(self, name: str) -> Any:
        return getattr(self.wrapped, name)

    async def embed(
        self, texts: list[str], model: str, dimensions: int | None, options: CallOptions
    ) -> Any:
        admission = _metered(options)
        if admission is None:
            return await self.wrapped.embed(texts, model, dimensions, options)
        assert options.model is not None
        prompt = sum(estimate_text_tokens(t) for t in texts)
        call = await self.meter.hold_for(admission, options.model, prompt, 0)
        try:
            answer = await self.wrapped.embed(texts, model, dimensions, options)
        except BaseException:
            await call.release()
            raise
        await call.settle(Usage.of(answer.prompt_tokens or prompt, 0))
        return answer
