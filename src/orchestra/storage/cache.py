"""The cache's second level: answers in the cache table, one item per key.

An item (``CACHE_TABLE``): ``pk`` = the cache key (``<namespace>:<hash>``), ``r`` = the
``ChatResponse`` JSON zlib-compressed (Binary: an item holds at most 400 KB and answers are
text that compresses 3-5x), ``m``/``p`` = model and provider, ``c`` = cost in nanodollars,
``t``/``f`` = created and fresh-until (epoch seconds), ``q`` = the question (semantic
entries only), ``expires_at`` = the table's TTL attribute (freshness plus how long a stale
answer is kept). Short attribute names: every byte of an item is paid for on each read.

A lookup is exactly one GetItem (eventually consistent: an answer written a moment ago on
another instance may be missed once, which costs one upstream call, never a wrong answer).
An item that cannot be decoded is a miss, logged by exception type.
"""

from __future__ import annotations

import logging
import zlib
from typing import TYPE_CHECKING, Any

from orchestra.cache.records import CachedAnswer
from orchestra.storage.dynamodb import _Table
from orchestra.storage.tables import CACHE_TABLE

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

log = logging.getLogger("orchestra.cache")

#: the attributes a lookup reads (the key and the TTL attribute are not needed)
_PROJECTION = "r, m, p, c, t, f, q"
_COMPRESS_LEVEL = 6


def encode(key: str, answer: CachedAnswer, expires_at: int) -> dict[str, Any]:
    """The DynamoDB item for ``answer`` (numbers as N, written without a serializer)."""
    item: dict[str, Any] = {
        CACHE_TABLE.partition_key: {"S": key},
        "r": {"B": zlib.compress(answer.response, _COMPRESS_LEVEL)},
        "m": {"S": answer.model},
        "p": {"S": answer.provider},
        "c": {"N": str(int(answer.cost_nanos))},
        "t": {"N": repr(float(answer.created_at))},
        "f": {"N": repr(float(answer.fresh_until))},
        str(CACHE_TABLE.ttl_attribute): {"N": str(int(expires_at))},
    }
    if answer.question:
        item["q"] = {"S": answer.question}
    return item


def decode(item: dict[str, Any]) -> CachedAnswer:
    """The answer an item holds; raises (KeyError, ValueError, zlib.error...) when the
    item is not one this module wrote."""
    question = item.get("q")
    return CachedAnswer(
        response=zlib.decompress(item["r"]["B"]),
        model=item["m"]["S"],
        provider=item["p"]["S"],
        cost_nanos=int(item["c"]["N"]),
        created_at=float(item["t"]["N"]),
        fresh_until=float(item["f"]["N"]),
        question=question["S"] if question is not None else None,
    )


class DynamoDBAnswerBackend(_Table):
    """``AnswerBackend`` on the cache table: GetItem (projected) and PutItem."""

    def __init__(self, table_name: str, client: DynamoDBClient | None = None) -> None:
        super().__init__(table_name, client)

    async def get(self, key: str) -> CachedAnswer | None:
        response = await self._call(
            "get_item",
            TableName=self.table_name,
            Key={CACHE_TABLE.partition_key: {"S": key}},
            ProjectionExpression=_PROJECTION,
        )
        item = response.get("Item")
        if not item:
            return None
        try:
            return decode(item)
        except Exception as exc:  # a corrupt entry is a miss, never an error
            log.warning("cache item undecodable: %s", type(exc).__name__)
            return None

    async def put(self, key: str, answer: CachedAnswer, expires_at: int) -> None:
        item = encode(key, answer, expires_at)
        await self._call("put_item", TableName=self.table_name, Item=item)
