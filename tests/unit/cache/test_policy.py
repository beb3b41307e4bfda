"""AnswerCache: lookups (exact, then semantic through a fake index), what is stored, stale
answers, spend and the observer; every storage failure a miss."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from orchestra.cache.controls import CacheControls
from orchestra.cache.lru import ByteLRU
from orchestra.cache.policy import AnswerCache
from orchestra.cache.protocols import VectorMatch
from orchestra.cache.records import CachedAnswer
from orchestra.cache.tiers import AnswerTiers
from orchestra.config import Settings
from orchestra.governance.protocols import SpendRow
from orchestra.schemas.chat import ChatRequest, ChatResponse


class Clock:
    now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Probe:
    vector: list[float] | None
    matches: list[VectorMatch]


@dataclass
class FakeSemantic:
    """The SemanticIndex interface: one canned neighbour per probe."""

    matches: list[VectorMatch] = field(default_factory=list)
    same: bool = True
    remembered: list[tuple[str, str, list[float], int]] = field(default_factory=list)
    probes: list[tuple[str, str, float]] = field(default_factory=list)

    async def probe(self, scope: str, question: str, threshold: float) -> Probe:
        self.probes.append((scope, question, threshold))
        return Probe([1.0, 0.0], list(self.matches))

    def same_subject(self, question: str, cached_question: str | None) -> bool:
        return self.same and cached_question is not None

    async def remember(self, scope: str, key: str, vector: list[float], expires_at: int) -> None:
        self.remembered.append((scope, key, vector, expires_at))


@dataclass
class Spend:
    rows: list[SpendRow] = field(default_factory=list)

    async def add(self, row: SpendRow) -> None:
        self.rows.append(row)


class Observer:
    def __init__(self) -> None:
        self.seen: list[tuple[str, str | None, float]] = []

    def cache(self, outcome: str, match: str | None, saved_usd: float) -> None:
        self.seen.append((outcome, match, saved_usd))


def _request(question: str = "What is the capital of Austria?", **extra: Any) -> ChatRequest:
    body = {"model": "m", "messages": [{"role": "user", "content": question}], "temperature": 0}
    return ChatRequest.model_validate({**body, **extra})


def _answer(content: str | None = "Vienna.", finish: str = "stop") -> ChatResponse:
    message = {"role": "assistant", "content": content}
    return ChatResponse.model_validate(
        {"model": "alpha/m1", "choices": [{"message": message, "finish_reason": finish}]}
    )


def _cache(settings: Settings | None = None, **kw: Any) -> AnswerCache:
    settings = settings or Settings(cache_ttl_s=60)
    tiers = AnswerTiers(ByteLRU(1 << 20), kw.pop("shared", None), keep_s=100)
    return AnswerCache(tiers, CacheControls(settings), clock=kw.pop("clock", Clock()), **kw)


async def _store(cache: AnswerCache, request: ChatRequest, response: ChatResponse) -> None:
    lookup = cache.begin(request)
    assert lookup is not None and await cache.find(lookup) is None
    cache.keep(lookup, response, "alpha/m1", "alpha", 0.0001)


async def test_off_means_no_lookup_at_all() -> None:
    assert _cache(Settings()).begin(_request()) is None


async def test_miss_then_exact_hit_with_its_age_and_saving() -> None:
    clock, observer, spend = Clock(), Observer(), Spend()
    cache = _cache(clock=clock, observer=observer, spend=spend)
    await _store(cache, _request(), _answer())
    clock.now += 5
    lookup = cache.begin(_request())
    assert lookup is not None
    found = await cache.find(lookup)
    assert (
        found is not None
        and ChatResponse.model_validate_json(found.response).choices[0].message.content == "Vienna."
    )
    assert (lookup.report.outcome, lookup.report.match, lookup.report.age_s) == ("hit", "exact", 5)
    lookup.metered = True  # a key with budgets or limits: its calls write spend rows
    cache.served(lookup, found)
    await _drain()
    assert observer.seen == [("miss", None, 0.0), ("hit", "exact", pytest.approx(0.0001))]
    (row,) = spend.rows
    assert (row.key_id, row.cost_nanos, row.cache_hits, row.saved_nanos) == (
        "anonymous",
        0,
        1,
        100_000,
    )


async def _drain() -> None:
    import asyncio

    from orchestra.cache import policy

    await asyncio.gather(*list(policy._BACKGROUND))


@pytest.mark.parametrize(
    "response",
    [
        _answer(finish="content_filter"),
        _answer(content=""),
        _answer(content=None),
        _answer("x" * 5000),
    ],
)
async def test_filtered_empty_or_oversized_answers_are_not_stored(response: ChatResponse) -> None:
    cache = _cache(max_entry_bytes=4096)
    await _store(cache, _request(), response)
    assert len(cache.tiers.lru) == 0


class Broken:
    async def get(self, key: str) -> CachedAnswer | None:
        raise TimeoutError("slow")

    async def put(self, key: str, answer: CachedAnswer, expires_at: int) -> None:
        raise TimeoutError("slow")


async def test_a_broken_second_level_is_a_miss_and_a_lost_write() -> None:
    cache = _cache(shared=Broken())
    lookup = cache.begin(_request())
    assert lookup is not None and await cache.find(lookup) is None
    cache.keep(lookup, _answer(), "alpha/m1", "alpha", 0.0)
    await _drain()
    assert lookup.report.outcome == "miss" and len(cache.tiers.lru) == 1


async def test_stale_only_when_allowed_and_whatever_its_age() -> None:
    clock = Clock()
    cache = _cache(Settings(cache_ttl_s=60, cache_allow_stale=True), clock=clock)
    await _store(cache, _request(), _answer())
    clock.now += 10_000
    lookup = cache.begin(_request())
    assert lookup is not None and await cache.find(lookup) is None
    stale = await cache.stale(lookup)
    assert stale is not None and lookup.report.outcome == "stale" and lookup.report.age_s == 10_000
    other = cache.begin(_request("Something else?"))
    assert other is not None and await cache.stale(other) is None
    unallowed = _cache(clock=clock)
    lookup = unallowed.begin(_request())
    assert lookup is not None and await unallowed.stale(lookup) is None


def _semantic_cache(index: FakeSemantic) -> AnswerCache:
    return _cache(Settings(cache_ttl_s=60, cache_semantic=True), semantic=index)


async def test_semantic_hit_needs_a_near_match_and_the_same_subject() -> None:
    index = FakeSemantic()
    cache = _semantic_cache(index)
    await _store(cache, _request(), _answer())
    await _drain()
    ((scope, key, _vector, _),) = index.remembered
    index.matches = [VectorMatch(key, 0.97)]
    lookup = cache.begin(_request("what's the capital city of Austria?"))
    assert lookup is not None and await cache.find(lookup) is not None
    assert (lookup.report.match, lookup.report.similarity) == ("semantic", 0.97)
    assert index.probes[-1][0] == scope
    # And a near match about another subject (the guard says so) is a miss
    index.same = False
    lookup = cache.begin(_request("What is the capital of Australia?"))
    assert lookup is not None and await cache.find(lookup) is None


async def test_without_a_semantic_index_the_plan_stays_exact() -> None:
    cache = _cache(Settings(cache_ttl_s=60, cache_semantic=True))
    await _store(cache, _request(), _answer())
    lookup = cache.begin(_request("what's the capital city of Austria?"))
    assert lookup is not None and await cache.find(lookup) is None


async def test_an_observer_without_the_hook_is_fine() -> None:
    cache = _cache(observer=object())
    lookup = cache.begin(_request())
    assert lookup is not None and await cache.find(lookup) is None


async def test_a_repeat_is_the_same_entry_still_fresh_and_accounted_as_a_hit() -> None:
    # Given an exact hit served
    clock, observer, spend = Clock(), Observer(), Spend()
    cache = _cache(clock=clock, observer=observer, spend=spend)
    await _store(cache, _request(), _answer())
    lookup = cache.begin(_request())
    assert lookup is not None
    found = await cache.find(lookup)
    assert found is not None
    clock.now += 9
    # When its repeat asks: the report is the normal hit's, as of now
    report = cache.repeat(lookup.key, found, None)
    assert report is not None
    assert (report.outcome, report.match, report.age_s, report.model) == (
        "hit",
        "exact",
        9,
        "alpha/m1",
    )
    assert report.headers() == {**lookup.report.headers(), "x-orchestra-cache-age": "9"}
    cache.account(report, "key-1", "ml", found, metered=True)
    await _drain()
    assert observer.seen[-1] == ("hit", "exact", pytest.approx(0.0001))
    (row,) = spend.rows
    assert (row.key_id, row.team, row.cache_hits, row.saved_nanos) == ("key-1", "ml", 1, 100_000)
    # And not once the entry is too old for the request, past its TTL, or replaced
    assert cache.repeat(lookup.key, found, 5) is None
    clock.now += 60
    assert cache.repeat(lookup.key, found, None) is None
    clock.now -= 60
    await _store_again(cache)
    assert cache.repeat(lookup.key, found, None) is None


async def _store_again(cache: AnswerCache) -> None:
    lookup = cache.begin(_request(orchestra={"cache": {"no_cache": True}}))
    assert lookup is not None and await cache.find(lookup) is None
    cache.keep(lookup, _answer("Wien."), "alpha/m1", "alpha", 0.0001)


async def test_an_unmetered_keys_hit_is_counted_but_writes_no_spend_row() -> None:
    # Given a key with no budget or limit (its upstream calls write no spend rows either)
    clock, observer, spend = Clock(), Observer(), Spend()
    cache = _cache(clock=clock, observer=observer, spend=spend)
    await _store(cache, _request(), _answer())
    lookup = cache.begin(_request())
    assert lookup is not None and not lookup.metered
    found = await cache.find(lookup)
    assert found is not None
    # When the hit is served
    cache.served(lookup, found)
    await _drain()
    # Then the metrics count it and spend has no lone hit row
    assert observer.seen[-1][0] == "hit"
    assert spend.rows == []
