"""Metering: every upstream call holds its worst case, then settles the actual or releases."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest

from orchestra.caller import Principal
from orchestra.catalog.models import ModelInfo
from orchestra.config import Settings
from orchestra.errors import BudgetExceeded, ServerError
from orchestra.governance.admission import Admission, Governor, current_admission
from orchestra.governance.metering import Meter, MeteredEmbeddings, MeteredProvider
from orchestra.governance.records import KeyPolicy, TeamPolicy, to_nanos
from orchestra.providers.base import CallOptions
from orchestra.providers.embeddings import Embeddings
from orchestra.schemas.chat import (
    AssistantMessage,
    ChatChunk,
    ChatMessage,
    ChatRequest,
    ChatResponse,
    Choice,
    ChunkChoice,
    Delta,
    Usage,
)

from support.governance import FakeLedger, FakePolicies, FakeSpend

MODEL = ModelInfo(
    id="p/m1",
    context_window=8000,
    max_output_tokens=1000,
    input_price=1e-6,
    output_price=2e-6,
    quality=1000,
)
REQUEST = ChatRequest(
    model="p/m1", messages=[ChatMessage(role="user", content="hi " * 40)], max_tokens=100
)


class Upstream:
    """A provider answering ``text`` (buffered or in chunks), or failing, or hanging."""

    name = "p"

    def __init__(self, text: str = "Hello there", *, fail: bool = False, hang: bool = False):
        self.text, self.fail, self.hang = text, fail, hang
        self.calls = 0
        self.closed = False
        self.supports_prefill = lambda model: True

    async def complete(self, request: ChatRequest, model: str, options: CallOptions) -> Any:
        self.calls += 1
        if self.hang:
            await asyncio.sleep(60)
        if self.fail:
            raise ServerError("upstream 500", provider="p", model=model)
        message = AssistantMessage(content=self.text)
        return ChatResponse(model=model, choices=[Choice(message=message)], usage=Usage.of(40, 3))

    async def stream(
        self, request: ChatRequest, model: str, options: CallOptions
    ) -> AsyncIterator[ChatChunk]:
        self.calls += 1
        try:
            if self.fail:
                raise ServerError("upstream 500", provider="p", model=model)
            for word in self.text.split(" "):
                if self.hang:
                    await asyncio.sleep(60)
                yield ChatChunk(choices=[ChunkChoice(delta=Delta(content=word + " "))])
            yield ChatChunk(choices=[], usage=Usage.of(40, 2))
        finally:
            self.closed = True


def _options() -> CallOptions:
    return CallOptions(timeout=10, model=MODEL)


async def _admission(ledger: FakeLedger, **limits: Any) -> Admission:
    limits = limits or {"budget_day_usd": Decimal("1"), "rpm": 10}
    store = FakePolicies(
        keys={"k": KeyPolicy(key_id="k", team="t", **limits)},
        teams={"t": TeamPolicy(team_id="t", budget_month_usd=Decimal("10"))},
    )
    return await Governor(Settings(), policies=store, ledger=ledger).admit(Principal("k"))


@pytest.fixture
async def ledger() -> AsyncIterator[FakeLedger]:
    ledger = FakeLedger()
    yield ledger


async def _admitted(ledger: FakeLedger, **limits: Any) -> Any:
    admission = await _admission(ledger, **limits)
    return admission, current_admission.set(admission)


async def test_a_call_holds_its_worst_case_and_settles_what_it_cost(ledger: FakeLedger) -> None:
    # Given a metered key and a spend backend
    admission, token = await _admitted(ledger)
    spend = FakeSpend()
    provider = MeteredProvider(Upstream(), Meter(spend=spend, clock=lambda: 1_796_083_200.0))
    try:
        # When two calls are made for one request
        await provider.complete(REQUEST, "m1", _options())
        await provider.complete(REQUEST, "m1", _options())
    finally:
        current_admission.reset(token)
    # Then each held prompt estimate x input + max_tokens x output price...
    first = ledger.holds[0]
    assert first.tokens > 100 and first.nanos == to_nanos(MODEL.cost(first.tokens - 100, 100))
    # ...the request counted once (its first hold), both settled at the usage's cost
    assert ledger.counted == [True, False]
    assert ledger.settled == [(to_nanos(MODEL.cost(40, 3)), 43)] * 2
    assert ledger.live == {}
    assert ledger.committed["key:k"] == 2 * to_nanos(MODEL.cost(40, 3))
    # And one spend row per settled call, for the key, its team and the model, on its day
    row = spend.rows[0]
    assert (row.day, row.key_id, row.team, row.model) == ("2026-12-01", "k", "t", "p/m1")
    assert (row.cost_nanos, row.prompt_tokens, row.completion_tokens) == (
        to_nanos(MODEL.cost(40, 3)),
        40,
        3,
    )
    assert admission.rate and admission.rate[0].limit_requests == 10


async def test_a_refused_hold_never_reaches_the_upstream(ledger: FakeLedger) -> None:
    # Given a budget smaller than the call's worst case
    admission, token = await _admitted(ledger, budget_day_usd=Decimal("0.0001"))
    upstream = Upstream()
    try:
        with pytest.raises(BudgetExceeded):
            await MeteredProvider(upstream, Meter()).complete(REQUEST, "m1", _options())
    finally:
        current_admission.reset(token)
    # Then nothing was called, nothing is held or charged
    assert upstream.calls == 0
    assert ledger.live == {} and ledger.committed.get("key:k", 0) == 0
    # And the next call would count the request (the refused hold did not)
    assert admission.counted is False


async def test_a_failed_call_releases_its_hold(ledger: FakeLedger) -> None:
    _, token = await _admitted(ledger)
    try:
        with pytest.raises(ServerError):
            await MeteredProvider(Upstream(fail=True), Meter()).complete(REQUEST, "m1", _options())
    finally:
        current_admission.reset(token)
    assert ledger.released == ["h0"] and ledger.live == {} and ledger.committed["key:k"] == 0


async def test_a_stream_settles_from_its_usage_chunk(ledger: FakeLedger) -> None:
    _, token = await _admitted(ledger)
    try:
        chunks = MeteredProvider(Upstream(), Meter()).stream(REQUEST, "m1", _options())
        got = [c async for c in chunks]
    finally:
        current_admission.reset(token)
    assert len(got) == 3
    assert ledger.settled == [(to_nanos(MODEL.cost(40, 2)), 42)] and ledger.live == {}


async def test_a_stream_closed_early_settles_an_estimate_of_what_was_relayed(
    ledger: FakeLedger,
) -> None:
    # Given a stream read for one chunk, then closed by its reader (a client gone)
    _, token = await _admitted(ledger)
    upstream = Upstream("Hello there friend")
    try:
        chunks = MeteredProvider(upstream, Meter()).stream(REQUEST, "m1", _options())
        first = await anext(chunks)
        await chunks.aclose()  # type: ignore[attr-defined]
    finally:
        current_admission.reset(token)
    assert first.choices[0].delta.content == "Hello "
    # Then the upstream stream is closed and the call settled at an estimate (6 chars)
    assert upstream.closed
    [(nanos, tokens)] = ledger.settled
    prompt = ledger.holds[0].tokens - 100
    assert (nanos, tokens) == (to_nanos(MODEL.cost(prompt, 2)), prompt + 2)
    assert ledger.live == {}


async def test_a_stream_failing_before_its_first_chunk_releases(ledger: FakeLedger) -> None:
    _, token = await _admitted(ledger)
    try:
        chunks = MeteredProvider(Upstream(fail=True), Meter()).stream(REQUEST, "m1", _options())
        with pytest.raises(ServerError):
            await anext(chunks)
    finally:
        current_admission.reset(token)
    assert ledger.released == ["h0"] and ledger.settled == []


async def test_a_cancelled_call_leaves_no_hold(ledger: FakeLedger) -> None:
    # Given a call cancelled while its upstream is answering (a hedge's loser)...
    _, token = await _admitted(ledger)
    provider = MeteredProvider(Upstream(hang=True), Meter())
    try:
        task = asyncio.create_task(provider.complete(REQUEST, "m1", _options()))
        await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        # ...and one cancelled while the ledger was still answering its hold
        ledger.hold_delay = 0.02
        task = asyncio.create_task(provider.complete(REQUEST, "m1", _options()))
        await asyncio.sleep(0.005)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await asyncio.sleep(0.05)  # the late hold arrives, and is released
    finally:
        current_admission.reset(token)
    # Then both holds were given back
    assert len(ledger.holds) == 2 and ledger.live == {} and ledger.committed["key:k"] == 0


async def test_a_cancelled_stream_reader_settles_what_it_relayed(ledger: FakeLedger) -> None:
    _, token = await _admitted(ledger)
    upstream = Upstream("one two three", hang=False)
    provider = MeteredProvider(upstream, Meter())

    async def read() -> None:
        async for _ in provider.stream(REQUEST, "m1", _options()):
            upstream.hang = True  # the next chunk never comes

    try:
        task = asyncio.create_task(read())
        await asyncio.sleep(0.02)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    finally:
        current_admission.reset(token)
    assert upstream.closed and len(ledger.settled) == 1 and ledger.live == {}


async def test_without_an_admission_the_call_is_the_providers_own() -> None:
    # Given no admission (governance off) or a call that names no model
    upstream = Upstream()
    provider = MeteredProvider(upstream, Meter())
    chunks = provider.stream(REQUEST, "m1", _options())
    # Then the provider's own iterator comes back: no wrapper, no await added
    assert chunks.__qualname__ == "Upstream.stream"  # type: ignore[attr-defined]
    await chunks.aclose()  # type: ignore[attr-defined]
    assert (await provider.complete(REQUEST, "m1", CallOptions())).text() == "Hello there"
    # And the rest of the adapter shows through (continuation asks for prefill)
    assert provider.supports_prefill("m1") is True


class Embedder:
    name = "p"

    def __init__(self, fail: bool = False) -> None:
        self.fail = fail

    async def embed(
        self, texts: list[str], model: str, dimensions: int | None, options: CallOptions
    ) -> Embeddings:
        if self.fail:
            raise ServerError("upstream 500", provider="p", model=model)
        return Embeddings([[0.0]] * len(texts), 7)


async def test_embeddings_hold_their_inputs_and_settle_the_reported_tokens(
    ledger: FakeLedger,
) -> None:
    _, token = await _admitted(ledger)
    try:
        answer = await MeteredEmbeddings(Embedder(), Meter()).embed(
            ["some text to embed"], "e1", None, _options()
        )
        with pytest.raises(ServerError):
            await MeteredEmbeddings(Embedder(fail=True), Meter()).embed(
                ["x"], "e1", None, _options()
            )
    finally:
        current_admission.reset(token)
    assert answer.prompt_tokens == 7
    assert ledger.holds[0].nanos == to_nanos(MODEL.cost(ledger.holds[0].tokens, 0))
    assert ledger.settled == [(to_nanos(MODEL.cost(7, 0)), 7)]
    assert ledger.released == ["h1"] and ledger.live == {}


def test_with_a_ledger_every_provider_and_embedder_is_metered() -> None:
    from orchestra.compose import build_services
    from orchestra.compose.core import memory_stores

    stores = memory_stores()
    stores.ledger = FakeLedger()
    services = build_services(Settings(simulator=True), {}, stores=stores)
    assert all(isinstance(p, MeteredProvider) for p in services.registry.providers.values())
    assert services.governor is not None
    # and a local gateway is governed by default (in-memory policies and ledger): a key
    # given a budget through the admin API is held to it at once
    plain = build_services(Settings(simulator=True), {})
    assert plain.governor is not None
    assert all(isinstance(p, MeteredProvider) for p in plain.registry.providers.values())
