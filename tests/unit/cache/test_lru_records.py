"""The first level's bound and the stored answer's freshness rules."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from orchestra.cache.lru import ByteLRU
from orchestra.cache.records import CachedAnswer, CacheOptions, CacheReport, CacheSettings
from orchestra.schemas.options import OrchestraOptions


def answer(size: int = 100, *, created: float = 1000.0, ttl: float = 60.0) -> CachedAnswer:
    return CachedAnswer(
        response=b"x" * size,
        model="sim/m",
        provider="sim",
        cost_nanos=5,
        created_at=created,
        fresh_until=created + ttl,
    )


def test_lru_evicts_least_recently_used_once_past_its_bytes() -> None:
    # Given room for two 300-byte entries (each counts its bytes plus a fixed 200)
    lru = ByteLRU(max_bytes=1000, max_entry_bytes=600)
    lru.put("a", answer(300))
    lru.put("b", answer(300))
    assert lru.get("a") is not None  # "a" is now the most recently used
    # When a third arrives
    lru.put("c", answer(300))
    # Then "b", the least recently used, is gone and the bound holds
    assert lru.get("b") is None
    assert lru.get("a") is not None and lru.get("c") is not None
    assert lru.bytes <= 1000


def test_lru_refuses_an_entry_larger_than_its_entry_bound_and_drops_the_old_one() -> None:
    lru = ByteLRU(max_bytes=10_000, max_entry_bytes=500)
    lru.put("k", answer(100))
    assert lru.put("k", answer(1000)) is False
    assert lru.get("k") is None
    assert lru.bytes == 0


def test_lru_replacing_an_entry_counts_its_bytes_once() -> None:
    lru = ByteLRU(max_bytes=10_000)
    lru.put("k", answer(100))
    lru.put("k", answer(200))
    assert len(lru) == 1
    assert lru.bytes == answer(200).size()


def test_freshness_and_max_age() -> None:
    entry = answer(created=1000.0, ttl=60.0)
    assert entry.fresh(1030.0)
    assert not entry.fresh(1060.0)  # the TTL ends it
    assert not entry.fresh(1030.0, max_age=10)  # older than the client accepts
    assert entry.fresh(1005.0, max_age=10)
    assert entry.age_s(900.0) == 0.0  # a clock behind the writer's is not a negative age


def test_report_headers_say_what_happened() -> None:
    hit = CacheReport("hit", age_s=12.7, saved_usd=0.0012, match="semantic", similarity=0.97)
    assert hit.headers() == {
        "x-orchestra-cache": "hit",
        "x-orchestra-cache-age": "12",
        "x-orchestra-cache-saved-usd": "0.00120000",
        "x-orchestra-cache-match": "semantic",
        "x-orchestra-cache-similarity": "0.9700",
    }
    assert CacheReport("miss").headers() == {"x-orchestra-cache": "miss"}


def test_unknown_cache_option_names_its_field() -> None:
    with pytest.raises(ValidationError) as caught:
        OrchestraOptions.model_validate({"cache": {"tll": 5}})
    assert caught.value.errors()[0]["loc"] == ("cache", "tll")


@pytest.mark.parametrize("ttl", [0, -1, 30 * 86_400 + 1])
def test_request_ttl_is_bounded(ttl: int) -> None:
    with pytest.raises(ValidationError):
        CacheOptions(ttl=ttl)


def test_key_settings_threshold_is_bounded() -> None:
    with pytest.raises(ValidationError):
        CacheSettings(semantic_threshold=0.2)
