"""The same behaviour from the two levels whether the second is there or not: the LRU
alone (``orchestra serve``) and the LRU in front of DynamoDB (deployed, under moto)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from orchestra.cache.lru import ByteLRU
from orchestra.cache.records import CachedAnswer
from orchestra.cache.tiers import AnswerTiers
from orchestra.storage.cache import DynamoDBAnswerBackend
from orchestra.storage.tables import create_tables

T0 = 1_796_126_430.0


@pytest.fixture
def moto_client() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        create_tables(client, {"cache": "contract-cache"})
        yield client


@pytest.fixture(params=["lru", "lru+dynamodb"])
async def tiers(request: pytest.FixtureRequest) -> AsyncIterator[AnswerTiers]:
    shared = None
    if request.param == "lru+dynamodb":
        client = request.getfixturevalue("moto_client")
        shared = DynamoDBAnswerBackend("contract-cache", client)
    yield AnswerTiers(ByteLRU(64 * 1024, 16 * 1024), shared, keep_s=3600)


def answer(text: str = "Vienna.", size: int = 0) -> CachedAnswer:
    return CachedAnswer(
        response=(text + " " * size).encode(),
        model="openai/gpt-4o-mini",
        provider="openai",
        cost_nanos=1_000,
        created_at=T0,
        fresh_until=T0 + 60,
    )


async def test_what_is_put_is_got(tiers: AnswerTiers) -> None:
    await tiers.put("k:a:1", answer())
    assert await tiers.get("k:a:1") == answer()


async def test_an_unknown_key_is_none(tiers: AnswerTiers) -> None:
    assert await tiers.get("k:a:unknown") is None


async def test_keys_in_two_namespaces_never_share(tiers: AnswerTiers) -> None:
    await tiers.put("k:a:1", answer("for a"))
    await tiers.put("k:b:1", answer("for b"))
    got_a, got_b = await tiers.get("k:a:1"), await tiers.get("k:b:1")
    assert got_a is not None and got_a.response.startswith(b"for a")
    assert got_b is not None and got_b.response.startswith(b"for b")


async def test_a_put_replaces_the_entry(tiers: AnswerTiers) -> None:
    await tiers.put("k:a:1", answer("old"))
    await tiers.put("k:a:1", answer("new"))
    got = await tiers.get("k:a:1")
    assert got is not None and got.response == b"new"


async def test_a_stale_entry_is_still_returned_the_caller_decides(tiers: AnswerTiers) -> None:
    await tiers.put("k:a:1", answer())
    got = await tiers.get("k:a:1")
    assert got is not None and not got.fresh(T0 + 61)


async def test_an_entry_evicted_from_the_lru_comes_back_only_from_the_second_level(
    tiers: AnswerTiers,
) -> None:
    # Given an entry pushed out of the LRU by newer ones
    await tiers.put("k:a:first", answer(size=10_000))
    for i in range(8):
        await tiers.put(f"k:a:{i}", answer(size=10_000))
    assert tiers.local("k:a:first") is None
    # Then only a second level still has it
    got = await tiers.get("k:a:first")
    assert (got is not None) == (tiers.shared is not None)


async def test_a_stale_local_entry_gives_way_to_a_fresher_shared_one(moto_client: Any) -> None:
    # Given two instances sharing DynamoDB, the first holding an entry that has gone stale
    shared = DynamoDBAnswerBackend("contract-cache", moto_client)
    first = AnswerTiers(ByteLRU(64 * 1024), shared, keep_s=3600)
    second = AnswerTiers(ByteLRU(64 * 1024), shared, keep_s=3600)
    old = answer("Vienna (old).")
    await first.put("k:a:1", old)
    # When the second instance stores a newer answer and the first looks past its own
    newer = answer("Vienna (new).")
    newer.created_at, newer.fresh_until = T0 + 120, T0 + 180
    await second.put("k:a:1", newer)
    found = await first.get("k:a:1", past=old)
    # Then the first serves (and keeps) the newer one
    assert found is not None and found.response == newer.response
    assert first.local("k:a:1") is found


async def test_a_stale_local_entry_stays_when_the_shared_one_is_no_newer(moto_client: Any) -> None:
    shared = DynamoDBAnswerBackend("contract-cache", moto_client)
    tiers = AnswerTiers(ByteLRU(64 * 1024), shared, keep_s=3600)
    old = answer()
    await tiers.put("k:a:1", old)
    assert await tiers.get("k:a:1", past=old) is old
