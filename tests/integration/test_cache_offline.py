"""The answer cache when things go wrong, through the real app: budgets exhausted (a hit
still answers, and spend says what it saved), every candidate failing (stale answers), the
second level failing (a miss, never a 500) or shared between instances."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from orchestra.cache.records import CachedAnswer
from orchestra.governance.records import KeyPolicy

from support.cache import COST_NANOS, KEY_IDS, Numbered, ask, cached_gateway, text_of
from support.gateway import started
from support.governance import FakeLedger, FakePolicies, FakeSpend
from support.upstream import FakeUpstream, Reply

FAILED = Reply.json({"error": {"message": "upstream is down", "type": "server_error"}}, 500)


@pytest.fixture
async def upstream() -> AsyncIterator[FakeUpstream]:
    async with started({"alpha": FakeUpstream(responder=Numbered())}) as fakes:
        yield fakes["alpha"]


async def test_an_exhausted_budget_still_gets_its_cached_answer_and_spend_shows_the_saving(
    tmp_path: Path, upstream: FakeUpstream
) -> None:
    # Given a key with a day budget and its cache on
    key = KeyPolicy(key_id=KEY_IDS[0], budget_day_usd=Decimal("1"), cache={"ttl_s": 60})
    ledger, spend = FakeLedger(), FakeSpend()
    stores = {"policies": FakePolicies(keys={KEY_IDS[0]: key}), "ledger": ledger, "spend": spend}
    async with cached_gateway(tmp_path, upstream.base_url, stores_options=stores) as gw:
        first = await gw.client.post("/v1/chat/completions", json=ask(max_tokens=50))
        # When its budget is then used up
        ledger.committed[f"key:{KEY_IDS[0]}"] = 10**12
        hit = await gw.client.post("/v1/chat/completions", json=ask(max_tokens=50))
        other = await gw.client.post("/v1/chat/completions", json=ask("Else?", max_tokens=50))
    # Then the cached question is still answered (nothing held), a new one is refused
    assert first.status_code == 200 and hit.status_code == 200
    assert hit.headers["x-orchestra-cache"] == "hit" and hit.json() == first.json()
    assert other.status_code == 429
    assert len(ledger.holds) == 1 and len(upstream.requests) == 1  # the refusal held nothing
    # And spend has the call's row and the hit's: cost 0, one cache hit, the cost saved
    call, cached = spend.rows
    assert (call.cost_nanos, call.cache_hits) == (COST_NANOS, 0)
    assert (cached.key_id, cached.model, cached.cost_nanos) == (KEY_IDS[0], "alpha/m1", 0)
    assert (cached.requests, cached.cache_hits, cached.saved_nanos) == (1, 1, COST_NANOS)


def _stale_asked(where: str) -> tuple[dict[str, Any], dict[str, str], dict[str, Any]]:
    """(request body, headers, stores) asking for stale answers ``where``."""
    if where == "header":
        return ask(), {"x-orchestra-cache-allow-stale": "true"}, {}
    if where == "body":
        return ask(orchestra={"cache": {"allow_stale": True}}), {}, {}
    key = KeyPolicy(key_id=KEY_IDS[0], cache={"allow_stale": True})
    return ask(), {}, {"policies": FakePolicies(keys={KEY_IDS[0]: key})}


@pytest.mark.parametrize("where", ["header", "body", "key"])
async def test_every_candidate_failing_serves_the_stale_answer_when_allowed(
    tmp_path: Path, upstream: FakeUpstream, where: str
) -> None:
    body, headers, stores = _stale_asked(where)
    async with cached_gateway(
        tmp_path, upstream.base_url, cache_ttl_s=60, stores_options=stores
    ) as gw:
        await gw.client.post("/v1/chat/completions", json=ask())
        # When the answer is an hour past its TTL and the upstream fails every call
        gw.clock.now += 3600
        upstream.enqueue(*[FAILED] * 10)
        stale = await gw.client.post("/v1/chat/completions", json=body, headers=headers)
        unasked = await gw.client.post(
            "/v1/chat/completions", json=ask(), headers={"x-orchestra-cache-allow-stale": "false"}
        )
        nothing = await gw.client.post("/v1/chat/completions", json=ask("New?"), headers=headers)
    # Then the old answer is served, marked stale with its age
    assert stale.status_code == 200, stale.text
    assert stale.headers["x-orchestra-cache"] == "stale"
    assert stale.headers["x-orchestra-cache-age"] == "3600"
    assert stale.headers["x-orchestra-cost-usd"] == "0.00000000"
    assert text_of(stale) == "answer 1 is here"
    # And without allow_stale, or without an entry, the failure is the client's answer
    assert unasked.status_code >= 500 and nothing.status_code >= 500
    assert "x-orchestra-cache" not in nothing.headers


class FailingBackend:
    """A second level that is down."""

    def __init__(self) -> None:
        self.reads = self.writes = 0

    async def get(self, key: str) -> CachedAnswer | None:
        self.reads += 1
        raise ConnectionError("table unreachable")

    async def put(self, key: str, answer: CachedAnswer, expires_at: int) -> None:
        self.writes += 1
        raise ConnectionError("table unreachable")


async def test_a_second_level_that_is_down_is_a_miss_never_a_500(
    tmp_path: Path, upstream: FakeUpstream, caplog: pytest.LogCaptureFixture
) -> None:
    backend = FailingBackend()
    stores = {"cache": backend}
    async with cached_gateway(
        tmp_path, upstream.base_url, cache_ttl_s=60, stores_options=stores
    ) as gw:
        miss = await gw.client.post("/v1/chat/completions", json=ask())
        hit = await gw.client.post("/v1/chat/completions", json=ask())
    assert miss.status_code == 200 and miss.headers["x-orchestra-cache"] == "miss"
    assert hit.headers["x-orchestra-cache"] == "hit"  # from the LRU
    assert backend.reads == 1 and backend.writes == 1
    assert "ConnectionError" in caplog.text and "unreachable" not in caplog.text


class MemoryBackend:
    """A second level shared by two gateways (what DynamoDB is to two instances)."""

    def __init__(self) -> None:
        self.items: dict[str, tuple[CachedAnswer, int]] = {}
        self.reads = 0

    async def get(self, key: str) -> CachedAnswer | None:
        self.reads += 1
        found = self.items.get(key)
        return found[0] if found else None

    async def put(self, key: str, answer: CachedAnswer, expires_at: int) -> None:
        self.items[key] = (answer, expires_at)


async def test_another_instance_hits_through_the_second_level(
    tmp_path: Path, upstream: FakeUpstream
) -> None:
    backend = MemoryBackend()
    stores = {"cache": backend}
    async with cached_gateway(
        tmp_path, upstream.base_url, cache_ttl_s=60, cache_stale_keep_s=100, stores_options=stores
    ) as one:
        await one.client.post("/v1/chat/completions", json=ask())
    async with cached_gateway(
        tmp_path, upstream.base_url, cache_ttl_s=60, stores_options=stores
    ) as two:
        hit = await two.client.post("/v1/chat/completions", json=ask())
    assert hit.headers["x-orchestra-cache"] == "hit" and len(upstream.requests) == 1
    (entry, expires_at) = next(iter(backend.items.values()))
    assert expires_at == int(entry.fresh_until) + 100  # kept past its TTL for stale answers
    assert backend.reads == 2  # one read by each instance's lookup
