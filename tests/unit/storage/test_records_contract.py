"""One contract for the workflow record stores: memory and DynamoDB (under moto).

Every test runs once per backend, so ``orchestra serve`` and the deployed functions cannot
drift apart on what a chain run or a batch reads back.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from orchestra.errors import StorageError
from orchestra.storage.memory import MemoryRecordBackend
from orchestra.storage.protocols import RecordBackend
from orchestra.storage.tables import create_tables
from orchestra.storage.workflows import DynamoDBRecordBackend

TABLE = "contract-workflows"
TTL = 1_800_000_000


@pytest.fixture(scope="module")
def moto_table() -> Iterator[Any]:
    """One moto DynamoDB and table for the module (starting moto is most of a test's time)."""
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        create_tables(client, {"workflows": TABLE})
        yield client


@pytest.fixture
def moto_client(moto_table: Any) -> Iterator[Any]:
    """The table, emptied after each test."""
    yield moto_table
    for page in moto_table.get_paginator("scan").paginate(TableName=TABLE):
        for item in page["Items"]:
            moto_table.delete_item(TableName=TABLE, Key={"pk": item["pk"], "sk": item["sk"]})


@pytest.fixture(params=["memory", "dynamodb"])
def records(request: pytest.FixtureRequest) -> RecordBackend:
    if request.param == "memory":
        return MemoryRecordBackend()
    return DynamoDBRecordBackend(TABLE, request.getfixturevalue("moto_client"))


async def test_put_new_stores_once_and_refuses_the_second(records: RecordBackend) -> None:
    assert await records.put_new("batch#1", "header", '{"a": 1}', TTL) is True
    assert await records.put_new("batch#1", "header", '{"a": 2}', TTL) is False
    assert await records.get("batch#1", "header") == '{"a": 1}'


async def test_put_replaces_and_get_misses_are_none(records: RecordBackend) -> None:
    await records.put("chain#brief", "latest", '{"v": 1}', None)
    await records.put("chain#brief", "latest", '{"v": 2}', None)
    assert await records.get("chain#brief", "latest") == '{"v": 2}'
    assert await records.get("chain#brief", "v#000009") is None
    assert await records.get("chain#other", "latest") is None


async def test_load_returns_every_document_and_skips_counter_items(
    records: RecordBackend,
) -> None:
    # Given a batch with documents and a counters item
    await records.put("batch#1", "header", "h", TTL)
    await records.put("batch#1", "outcome", "o", TTL)
    await records.add("batch#1", "counts", {"completed": 3}, TTL)
    await records.put("batch#2", "header", "other", TTL)
    # Then load has the documents of that batch only, and no counters item
    assert await records.load("batch#1") == {"header": "h", "outcome": "o"}
    assert await records.load("batch#missing") == {}


async def test_load_reads_every_page_of_a_large_partition(records: RecordBackend) -> None:
    big = "x" * 100_000  # ~100 KB each: DynamoDB pages a query at 1 MB
    for i in range(14):
        await records.put("chainrun#1", f"step#{i:02d}", big + str(i), TTL)
    loaded = await records.load("chainrun#1")
    assert len(loaded) == 14
    assert loaded["step#13"].endswith("13")


async def test_add_counts_atomically_and_returns_every_counter(records: RecordBackend) -> None:
    assert await records.counters("batch#1", "counts") == {}
    assert await records.add("batch#1", "counts", {"completed": 2, "failed": 1}, TTL) == {
        "completed": 2,
        "failed": 1,
    }
    after = await records.add("batch#1", "counts", {"chunks_done": 1, "completed": 5}, TTL)
    assert after == {"completed": 7, "failed": 1, "chunks_done": 1}
    assert await records.counters("batch#1", "counts") == after


async def test_concurrent_adds_lose_nothing() -> None:
    # the memory store's own atomicity (moto's DynamoDB is not thread-safe under concurrent
    # updates, so the DynamoDB side is held to one ADD per call below: DynamoDB's guarantee)
    records = MemoryRecordBackend()
    await asyncio.gather(*(records.add("batch#1", "counts", {"done": 1}, TTL) for _ in range(20)))
    assert await records.counters("batch#1", "counts") == {"done": 20}


def test_a_dynamodb_add_is_one_atomic_update_with_no_read() -> None:
    # Given a client that records the calls it is asked to make
    class Recorder:
        def __init__(self) -> None:
            self.calls: list[tuple[str, dict[str, Any]]] = []

        def update_item(self, **kwargs: Any) -> dict[str, Any]:
            self.calls.append(("update_item", kwargs))
            return {"Attributes": {"done": {"N": "3"}, "pk": {"S": "batch#1"}}}

    client = Recorder()
    records = DynamoDBRecordBackend(TABLE, client)
    # When counters are added
    after = asyncio.run(records.add("batch#1", "counts", {"done": 1}, TTL))
    # Then it is exactly one UpdateItem whose ADD DynamoDB applies atomically, no read first
    assert [name for name, _ in client.calls] == ["update_item"]
    update = client.calls[0][1]
    assert "ADD #c0 :c0" in update["UpdateExpression"]
    assert update["ReturnValues"] == "ALL_NEW"
    assert after == {"done": 3}


async def test_counters_live_beside_a_document_without_touching_it(
    records: RecordBackend,
) -> None:
    await records.put("batch#1", "header", "h", TTL)
    await records.add("batch#1", "header", {"n": 1}, None)
    assert await records.get("batch#1", "header") == "h"
    assert await records.counters("batch#1", "header") == {"n": 1}


async def test_counter_names_of_the_item_fields_are_refused(records: RecordBackend) -> None:
    for name in ("doc", "pk", "sk", "expires_at"):
        with pytest.raises(ValueError, match=name):
            await records.add("batch#1", "counts", {name: 1}, TTL)


async def test_page_is_in_sort_key_order_both_ways_and_resumes_after(
    records: RecordBackend,
) -> None:
    # Given five files listed under one owner
    for i in range(5):
        await records.put("files#k1", f"{1_700_000_000 + i:010d}#file-{i}", f"doc{i}", TTL)
    # When paging newest first, two at a time
    first = await records.page("files#k1", limit=2)
    second = await records.page("files#k1", after=first[-1][0], limit=2)
    third = await records.page("files#k1", after=second[-1][0], limit=2)
    # Then the pages cover every file once, newest first
    docs = [doc for page in (first, second, third) for _, doc in page]
    assert docs == ["doc4", "doc3", "doc2", "doc1", "doc0"]
    # And oldest first works the same way
    oldest = await records.page("files#k1", limit=3, descending=False)
    assert [doc for _, doc in oldest] == ["doc0", "doc1", "doc2"]
    rest = await records.page("files#k1", after=oldest[-1][0], limit=10, descending=False)
    assert [doc for _, doc in rest] == ["doc3", "doc4"]
    assert await records.page("files#nobody") == []


async def test_page_leaves_out_counter_only_items_and_still_fills_the_limit(
    records: RecordBackend,
) -> None:
    await records.add("batches#k1", "0000000000#counts", {"n": 1}, TTL)
    for i in range(3):
        await records.put("batches#k1", f"{i + 1:010d}#batch_{i}", f"b{i}", TTL)
    page = await records.page("batches#k1", limit=3, descending=False)
    assert [doc for _, doc in page] == ["b0", "b1", "b2"]


async def test_delete_removes_and_ignores_absent_items(records: RecordBackend) -> None:
    await records.put("file#1", "meta", "m", TTL)
    await records.delete("file#1", "meta")
    await records.delete("file#1", "meta")
    assert await records.get("file#1", "meta") is None


async def test_a_record_without_expiry_is_kept(records: RecordBackend) -> None:
    await records.put("chain#brief", "v#000001", "doc", None)
    assert await records.load("chain#brief") == {"v#000001": "doc"}


async def test_every_operation_counts_a_round_trip(records: RecordBackend) -> None:
    before = records.calls  # type: ignore[attr-defined]
    await records.put("a", "b", "c", TTL)
    await records.get("a", "b")
    assert records.calls == before + 2  # type: ignore[attr-defined]


async def test_dynamodb_items_carry_the_ttl_only_when_given(moto_client: Any) -> None:
    records = DynamoDBRecordBackend(TABLE, moto_client)
    await records.put("chain#a", "v#000001", "doc", None)
    await records.put("chainrun#1", "header", "doc", TTL)
    kept = moto_client.get_item(
        TableName=TABLE, Key={"pk": {"S": "chain#a"}, "sk": {"S": "v#000001"}}
    )
    run = moto_client.get_item(
        TableName=TABLE, Key={"pk": {"S": "chainrun#1"}, "sk": {"S": "header"}}
    )
    assert "expires_at" not in kept["Item"]
    assert run["Item"]["expires_at"] == {"N": str(TTL)}


async def test_a_dynamodb_failure_is_a_storage_error(moto_client: Any) -> None:
    records = DynamoDBRecordBackend("no-such-table", moto_client)
    with pytest.raises(StorageError, match="ResourceNotFoundException"):
        await records.get("a", "b")
