"""Spend rows: the memory and DynamoDB (moto) backends hold to one contract."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import boto3
import pytest
from moto import mock_aws

from orchestra.governance.protocols import SpendBackend, SpendRow
from orchestra.storage.spend import (
    SPEND_TTL_DAYS,
    DynamoDBSpendBackend,
    MemorySpendBackend,
    days_between,
)
from orchestra.storage.tables import create_tables

TABLE = "orchestra-metrics"


def row(day: str, key: str, model: str, cost: int, team: str | None = "t1", **n: int) -> SpendRow:
    counts = {"requests": 1, "prompt_tokens": 10, "completion_tokens": 5, **n}
    return SpendRow(day=day, key_id=key, team=team, model=model, cost_nanos=cost, **counts)


@pytest.fixture(params=["memory", "dynamodb"])
async def backend(request: pytest.FixtureRequest) -> AsyncIterator[Any]:
    if request.param == "memory":
        yield MemorySpendBackend()
        return
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        create_tables(client, {"metrics": TABLE})
        yield DynamoDBSpendBackend(TABLE, client)


async def test_adds_to_one_row_sum_counters(backend: SpendBackend) -> None:
    # Given two settled calls of one key on one model on one day
    await backend.add(row("2026-03-01", "ci", "gpt-4o", 1_500, cached_tokens=3))
    await backend.add(row("2026-03-01", "ci", "gpt-4o", 2_250, requests=2))
    # Then one row holds their sums
    (found,) = await backend.query("2026-03-01", "2026-03-01")
    assert found == SpendRow(
        day="2026-03-01",
        key_id="ci",
        team="t1",
        model="gpt-4o",
        cost_nanos=3_750,
        requests=3,
        prompt_tokens=20,
        completion_tokens=10,
        cached_tokens=3,
    )


async def test_query_covers_the_days_asked_and_one_key_when_given(backend: SpendBackend) -> None:
    await backend.add(row("2026-02-28", "ci", "m", 1))
    await backend.add(row("2026-03-01", "ci", "m", 2))
    await backend.add(row("2026-03-01", "cit", "m", 4))  # a key whose id extends "ci"
    await backend.add(row("2026-03-02", "other", "openai/gpt-4o#x", 8, team=None))
    await backend.add(row("2026-03-03", "ci", "m", 16))
    inside = await backend.query("2026-03-01", "2026-03-02")
    assert sorted(r.cost_nanos for r in inside) == [2, 4, 8]
    only_ci = await backend.query("2026-02-28", "2026-03-03", key_id="ci")
    assert sorted(r.cost_nanos for r in only_ci) == [1, 2, 16]
    (other,) = await backend.query("2026-03-02", "2026-03-02", key_id="other")
    assert other.model == "openai/gpt-4o#x" and other.team is None


@pytest.fixture
def atomic_moto(monkeypatch: pytest.MonkeyPatch) -> None:
    """DynamoDB applies each UpdateItem atomically; moto, called from several threads
    (``asyncio.to_thread``), does not: its update_item is serialised here as DynamoDB's is."""
    from moto.dynamodb.models import DynamoDBBackend

    lock, update = threading.Lock(), DynamoDBBackend.update_item

    def serialised(self: DynamoDBBackend, *args: Any, **kwargs: Any) -> Any:
        with lock:
            return update(self, *args, **kwargs)

    monkeypatch.setattr(DynamoDBBackend, "update_item", serialised)


@pytest.mark.usefixtures("atomic_moto")
async def test_concurrent_adds_lose_nothing(backend: SpendBackend) -> None:
    # When 40 calls settle at once on one row, Then every nano is counted (ADD is atomic)
    await asyncio.gather(*(backend.add(row("2026-03-01", "ci", "m", 7)) for _ in range(40)))
    (found,) = await backend.query("2026-03-01", "2026-03-01")
    assert (found.cost_nanos, found.requests) == (280, 40)


def test_dynamodb_rows_are_one_update_each_and_expire() -> None:
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        create_tables(client, {"metrics": TABLE})
        spend = DynamoDBSpendBackend(TABLE, client)
        asyncio.run(spend.add(row("2026-03-01", "ci", "m", 5)))
        assert spend.calls == 1
        item = client.get_item(
            TableName=TABLE, Key={"pk": {"S": "spend#2026-03-01"}, "sk": {"S": "ci#m"}}
        )["Item"]
        expected = (SPEND_TTL_DAYS + 20_513) * 86_400  # 2026-03-01 is epoch day 20513
        assert int(item["expires_at"]["N"]) == expected
        asyncio.run(spend.query("2026-03-01", "2026-03-03", key_id="ci"))
        assert spend.calls == 4  # one Query per day


def test_days_between_is_inclusive() -> None:
    assert days_between("2026-02-27", "2026-03-01") == ["2026-02-27", "2026-02-28", "2026-03-01"]
    assert days_between("2026-03-02", "2026-03-01") == []


async def test_answers_from_cache_add_their_own_counters(backend: SpendBackend) -> None:
    # Given a settled upstream call, then two answers from cache (cost 0) on the same row
    await backend.add(row("2026-03-01", "ci", "gpt-4o", 1_500))
    hit = row("2026-03-01", "ci", "gpt-4o", 0, prompt_tokens=0, completion_tokens=0)
    await backend.add(replace(hit, cache_hits=1, saved_nanos=1_500))
    await backend.add(replace(hit, cache_hits=1, saved_nanos=1_400))
    # Then the row counts three requests, one cost, two hits and what they saved
    (found,) = await backend.query("2026-03-01", "2026-03-01")
    assert (found.requests, found.cost_nanos) == (3, 1_500)
    assert (found.cache_hits, found.saved_nanos) == (2, 2_900)


async def test_a_row_without_hits_reads_zero_hits(backend: SpendBackend) -> None:
    await backend.add(row("2026-03-01", "ci", "gpt-4o", 7))
    (found,) = await backend.query("2026-03-01", "2026-03-01")
    assert (found.cache_hits, found.saved_nanos) == (0, 0)
