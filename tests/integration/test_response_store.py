"""Stored Responses answers: one contract for the in-memory and DynamoDB (moto) backends."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import boto3
import pytest
from moto import mock_aws

from orchestra.storage.dynamodb import DynamoDBResponseBackend
from orchestra.storage.memory import MemoryResponseBackend
from orchestra.storage.protocols import ResponseBackend
from orchestra.storage.responses import ResponseStore
from orchestra.storage.tables import RESPONSES_TABLE, create_tables

TABLE = "test-responses"


@pytest.fixture(params=["memory", "dynamodb"])
def backend(request: pytest.FixtureRequest) -> Iterator[ResponseBackend]:
    if request.param == "memory":
        yield MemoryResponseBackend()
        return
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        create_tables(client, {"responses": TABLE})
        yield DynamoDBResponseBackend(TABLE, client)


async def test_a_record_round_trips(backend: ResponseBackend) -> None:
    # Given a stored record
    store = ResponseStore(backend)
    record = {"response": {"id": "resp_1", "output": []}, "messages": [{"role": "user"}]}
    await store.save("resp_1", record)
    # Then it loads back as stored; another id is not found
    assert await store.load("resp_1") == record
    assert await store.load("resp_other") is None


async def test_an_expired_record_is_not_found(backend: ResponseBackend) -> None:
    # Given a record whose expiry passed (DynamoDB's TTL sweep may not have removed it yet)
    await backend.put("resp_old", '{"response": {}}', int(time.time()) - 1)
    await backend.put("resp_new", '{"response": {}}', int(time.time()) + 60)
    # Then it is not found, and a live one is
    assert await backend.get("resp_old") is None
    assert await backend.get("resp_new") == '{"response": {}}'


def test_the_dynamodb_item_carries_its_ttl_and_the_table_expires_it() -> None:
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        create_tables(client, {"responses": TABLE})
        # Given a store keeping answers 30 days, at a fixed clock
        store = ResponseStore(DynamoDBResponseBackend(TABLE, client), clock=lambda: 1_000.0)
        big = {"response": {"id": "resp_9", "text": "x" * 600_000}, "messages": []}

        async def save() -> None:
            await store.save("resp_9", big)

        # When a large answer is saved (above DynamoDB's 400 KB item limit as plain JSON)
        asyncio.run(save())
        item = client.get_item(TableName=TABLE, Key={"pk": {"S": "resp_9"}})["Item"]
        # Then its TTL attribute is set 30 days on, and the table expires items by it
        assert item[str(RESPONSES_TABLE.ttl_attribute)] == {"N": str(1_000 + 30 * 86_400)}
        ttl = client.describe_time_to_live(TableName=TABLE)["TimeToLiveDescription"]
        assert ttl["AttributeName"] == RESPONSES_TABLE.ttl_attribute
        assert ttl["TimeToLiveStatus"] == "ENABLED"
        assert len(item["doc"]["B"]) < 400_000
