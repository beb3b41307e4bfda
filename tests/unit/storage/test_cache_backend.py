"""The cache's second level on DynamoDB (moto): what an item holds, one read per lookup,
and an item it cannot decode is a miss."""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from orchestra.cache.lru import ByteLRU
from orchestra.cache.records import CachedAnswer
from orchestra.cache.tiers import AnswerTiers
from orchestra.storage.cache import DynamoDBAnswerBackend, decode, encode
from orchestra.storage.tables import create_tables

TABLE = "test-cache"
T0 = 1_796_126_430.0
KEY = "k:ci-bot:00112233445566778899aabbccddeeff"


class Calls:
    """Every DynamoDB operation the client sends, by name (botocore's event system)."""

    def __init__(self, client: Any) -> None:
        self.names: list[str] = []
        client.meta.events.register("before-call.dynamodb.*", self._seen)

    def _seen(self, model: Any, **_: Any) -> None:
        self.names.append(model.name)


@pytest.fixture
def client() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        create_tables(client, {"cache": TABLE})
        yield client


def answer(*, question: str | None = None, text: str = "Vienna.") -> CachedAnswer:
    body = b'{"id":"chatcmpl-1","choices":[{"message":{"content":"%s"}}]}' % text.encode()
    return CachedAnswer(
        response=body,
        model="openai/gpt-4o-mini",
        provider="openai",
        cost_nanos=123_456,
        created_at=T0,
        fresh_until=T0 + 300.5,
        question=question,
    )


async def test_an_answer_comes_back_as_it_was_stored(client: Any) -> None:
    backend = DynamoDBAnswerBackend(TABLE, client)
    stored = answer(question="What is the capital of Austria?")
    await backend.put(KEY, stored, int(T0) + 900)
    assert await backend.get(KEY) == stored


async def test_an_answer_without_a_question_keeps_none(client: Any) -> None:
    backend = DynamoDBAnswerBackend(TABLE, client)
    await backend.put(KEY, answer(), int(T0) + 900)
    got = await backend.get(KEY)
    assert got is not None and got.question is None


async def test_a_key_never_stored_is_none(client: Any) -> None:
    assert await DynamoDBAnswerBackend(TABLE, client).get("k:other:ff") is None


async def test_the_item_holds_the_ttl_attribute_and_the_response_compressed(client: Any) -> None:
    # Given an answer whose response is long, repetitive text
    stored = answer(text="word " * 2000)
    await DynamoDBAnswerBackend(TABLE, client).put(KEY, stored, int(T0) + 900)
    # When the raw item is read
    item = client.get_item(TableName=TABLE, Key={"pk": {"S": KEY}})["Item"]
    # Then expires_at (the TTL attribute) is a number, and the response is compressed
    assert item["expires_at"] == {"N": str(int(T0) + 900)}
    assert item["c"] == {"N": "123456"}
    assert len(item["r"]["B"]) < len(stored.response) / 10
    assert zlib.decompress(item["r"]["B"]) == stored.response


async def test_tiers_write_expires_at_as_freshness_plus_the_stale_keep(client: Any) -> None:
    tiers = AnswerTiers(ByteLRU(1 << 20), DynamoDBAnswerBackend(TABLE, client), keep_s=86_400)
    await tiers.put(KEY, answer())
    item = client.get_item(TableName=TABLE, Key={"pk": {"S": KEY}})["Item"]
    assert int(item["expires_at"]["N"]) == int(T0 + 300.5) + 86_400


async def test_a_lookup_is_exactly_one_get_item(client: Any) -> None:
    backend = DynamoDBAnswerBackend(TABLE, client)
    await backend.put(KEY, answer(), int(T0) + 900)
    calls = Calls(client)
    await backend.get(KEY)
    await backend.get("k:ci-bot:missing")
    assert calls.names == ["GetItem", "GetItem"]
    assert backend.calls == 3  # the put, then one read per lookup


@pytest.mark.parametrize(
    "corruption",
    [
        {"r": {"B": b"not zlib"}},
        {"c": {"S": "twelve"}},
        {"m": {"N": "1"}},
    ],
    ids=["response-not-compressed", "cost-not-a-number", "model-not-a-string"],
)
async def test_a_corrupt_item_is_a_miss(client: Any, corruption: dict[str, Any]) -> None:
    item = encode(KEY, answer(), int(T0) + 900)
    item.update(corruption)
    client.put_item(TableName=TABLE, Item=item)
    assert await DynamoDBAnswerBackend(TABLE, client).get(KEY) is None


async def test_an_item_missing_attributes_is_a_miss(client: Any) -> None:
    client.put_item(TableName=TABLE, Item={"pk": {"S": KEY}, "expires_at": {"N": "1"}})
    assert await DynamoDBAnswerBackend(TABLE, client).get(KEY) is None


def test_encode_and_decode_are_inverse_without_dynamodb() -> None:
    stored = answer(question="q")
    assert decode(encode(KEY, stored, 1)) == stored


async def test_an_l2_hit_fills_the_lru_so_a_repeat_reads_nothing(client: Any) -> None:
    # Given an answer stored by another instance (only in DynamoDB)
    await DynamoDBAnswerBackend(TABLE, client).put(KEY, answer(), int(T0) + 900)
    tiers = AnswerTiers(ByteLRU(1 << 20), DynamoDBAnswerBackend(TABLE, client))
    calls = Calls(client)
    # When this instance looks it up twice
    first = await tiers.get(KEY)
    second = await tiers.get(KEY)
    # Then one GetItem answered both: the second came from the LRU
    assert first == second == answer()
    assert calls.names == ["GetItem"]
    assert tiers.local(KEY) == answer()


async def test_a_failing_table_is_a_miss_not_an_error(client: Any) -> None:
    tiers = AnswerTiers(ByteLRU(1 << 20), DynamoDBAnswerBackend("no-such-table", client))
    assert await tiers.get(KEY) is None
    await tiers.put(KEY, answer())  # logged, not raised
    assert tiers.local(KEY) == answer()
