"""DynamoDB storage backends over the low-level boto3 client.

boto3 is imported only when a backend first needs a client or a codec, never at module
import (cold start). Blocking boto3 calls run in a worker thread (``asyncio.to_thread``).
Every backend counts its API round trips in ``calls``. Floats are stored as ``Decimal``
and come back as ``int`` when integral, ``float`` otherwise (see ``plain_numbers``).
"""

from __future__ import annotations

import asyncio
import functools
import time
import zlib
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any, cast, get_args

from orchestra.errors import StorageError
from orchestra.storage.protocols import (
    BreakerState,
    BreakerStateName,
    check_catalog_fields,
    check_counter_names,
)
from orchestra.storage.tables import BREAKERS_TABLE, METRICS_TABLE, MODELS_TABLE, RESPONSES_TABLE

if TYPE_CHECKING:
    from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
    from mypy_boto3_dynamodb import DynamoDBClient

#: BatchGetItem accepts at most this many keys per request
BATCH_GET_LIMIT = 100
#: further BatchGetItem requests for UnprocessedKeys before giving up
UNPROCESSED_RETRIES = 4
_UNPROCESSED_BACKOFF_S = 0.05
_CONDITION_FAILED = "ConditionalCheckFailedException"


class _ConditionFailed(Exception):
    """A conditional write was refused (internal: turned into ``False`` by the caller)."""


@functools.cache
def _codec() -> tuple[TypeSerializer, TypeDeserializer]:
    from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

    return TypeSerializer(), TypeDeserializer()


def _to_decimals(value: Any) -> Any:
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, Mapping):
        return {key: _to_decimals(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_to_decimals(item) for item in value]
    return value


def _from_decimals(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, Mapping):
        return {key: _from_decimals(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_from_decimals(item) for item in value]
    if isinstance(value, set):
        return {_from_decimals(item) for item in value}
    return value


def to_attribute(value: Any) -> dict[str, Any]:
    """A Python value as a DynamoDB ``AttributeValue`` (floats become ``Decimal``)."""
    return cast("dict[str, Any]", _codec()[0].serialize(_to_decimals(value)))


def from_item(item: Mapping[str, Any]) -> dict[str, Any]:
    """A DynamoDB item as plain Python values (numbers as ``int`` or ``float``)."""
    deserializer = _codec()[1]
    return {key: _from_decimals(deserializer.deserialize(value)) for key, value in item.items()}


def _map_error(exc: Exception, operation: str, table_name: str) -> Exception:
    from botocore.exceptions import BotoCoreError, ClientError

    if isinstance(exc, ClientError):
        code = exc.response.get("Error", {}).get("Code", "unknown")
        if code == _CONDITION_FAILED:
            return _ConditionFailed()
        return StorageError(f"DynamoDB {operation} on {table_name} failed: {code}")
    if isinstance(exc, BotoCoreError):
        return StorageError(f"DynamoDB {operation} on {table_name} failed: {type(exc).__name__}")
    return exc


class _Table:
    """One table, a lazily created client, and a round-trip counter."""

    def __init__(self, table_name: str, client: DynamoDBClient | None = None) -> None:
        self.table_name = table_name
        self.calls = 0
        self._client = client

    @property
    def client(self) -> DynamoDBClient:
        if self._client is None:
            import boto3

            self._client = boto3.client("dynamodb")
        return self._client

    async def _call(self, operation: str, **kwargs: Any) -> dict[str, Any]:
        method = getattr(self.client, operation)
        self.calls += 1
        try:
            response: dict[str, Any] = await asyncio.to_thread(method, **kwargs)
        except Exception as exc:
            mapped = _map_error(exc, operation, self.table_name)
            if mapped is exc:
                raise
            raise mapped from exc
        return response

    async def _pages(self, operation: str, **kwargs: Any) -> list[dict[str, Any]]:
        """Every item of a paginated Scan or Query, decoded."""
        items: list[dict[str, Any]] = []
        while True:
            response = await self._call(operation, TableName=self.table_name, **kwargs)
            items.extend(from_item(item) for item in response.get("Items", []))
            last_key = response.get("LastEvaluatedKey")
            if not last_key:
                return items
            kwargs["ExclusiveStartKey"] = last_key


def _breaker_item(state: BreakerState, version: int) -> dict[str, Any]:
    fields: dict[str, Any] = {
        BREAKERS_TABLE.partition_key: state.model_id,
        "state": state.state,
        "failures": state.failures,
        "window_start": state.window_start,
        "version": version,
    }
    if state.opened_at is not None:
        fields["opened_at"] = state.opened_at
    if state.probe_until is not None:
        fields["probe_until"] = state.probe_until
    return {key: to_attribute(value) for key, value in fields.items()}


def _breaker_from_item(item: Mapping[str, Any]) -> BreakerState:
    data = from_item(item)
    state = data.get("state")
    if state not in get_args(BreakerStateName):
        raise StorageError(f"breaker record has an unknown state: {state!r}")
    opened_at, probe_until = data.get("opened_at"), data.get("probe_until")
    return BreakerState(
        model_id=str(data[BREAKERS_TABLE.partition_key]),
        state=cast("BreakerStateName", state),
        failures=int(data.get("failures", 0)),
        window_start=float(data.get("window_start", 0.0)),
        opened_at=float(opened_at) if opened_at is not None else None,
        probe_until=float(probe_until) if probe_until is not None else None,
        version=int(data.get("version", 0)),
    )


class DynamoDBBreakerBackend(_Table):
    """``BreakerBackend``: BatchGetItem (consistent reads) and conditional PutItem."""

    async def get_many(self, model_ids: Sequence[str]) -> dict[str, BreakerState]:
        keys = list(dict.fromkeys(model_ids))
        chunks = [keys[i : i + BATCH_GET_LIMIT] for i in range(0, len(keys), BATCH_GET_LIMIT)]
        pages = await asyncio.gather(*(self._batch_get(chunk) for chunk in chunks))
        states = (_breaker_from_item(item) for page in pages for item in page)
        return {state.model_id: state for state in states}

    async def _batch_get(self, model_ids: list[str]) -> list[dict[str, Any]]:
        pk = BREAKERS_TABLE.partition_key
        request: dict[str, Any] = {
            self.table_name: {"Keys": [{pk: {"S": m}} for m in model_ids], "ConsistentRead": True}
        }
        items: list[dict[str, Any]] = []
        for attempt in range(UNPROCESSED_RETRIES + 1):
            if attempt:
                await asyncio.sleep(_UNPROCESSED_BACKOFF_S * 2 ** (attempt - 1))
            response = await self._call("batch_get_item", RequestItems=request)
            items.extend(response.get("Responses", {}).get(self.table_name, []))
            request = response.get("UnprocessedKeys") or {}
            if not request:
                return items
        raise StorageError(f"DynamoDB batch_get_item on {self.table_name}: keys left unprocessed")

    async def put_if_version(self, state: BreakerState, expected_version: int) -> bool:
        condition: dict[str, Any]
        if expected_version == 0:
            condition = {
                "ConditionExpression": "attribute_not_exists(#pk)",
                "ExpressionAttributeNames": {"#pk": BREAKERS_TABLE.partition_key},
            }
        else:
            condition = {
                "ConditionExpression": "#version = :expected",
                "ExpressionAttributeNames": {"#version": "version"},
                "ExpressionAttributeValues": {":expected": {"N": str(expected_version)}},
            }
        item = _breaker_item(state, expected_version + 1)
        try:
            await self._call("put_item", TableName=self.table_name, Item=item, **condition)
        except _ConditionFailed:
            return False
        return True


class DynamoDBCatalogBackend(_Table):
    """``CatalogBackend``: paginated Scan and a field-merging UpdateItem.

    ``page_size`` sets the Scan ``Limit`` (tests use it to force pagination).
    """

    def __init__(
        self, table_name: str, client: DynamoDBClient | None = None, *, page_size: int | None = None
    ) -> None:
        super().__init__(table_name, client)
        self.page_size = page_size

    async def load_all(self) -> list[dict[str, Any]]:
        limit = {"Limit": self.page_size} if self.page_size else {}
        return await self._pages("scan", **limit)

    async def upsert(self, model_id: str, fields: dict[str, Any]) -> None:
        check_catalog_fields(model_id, fields)
        pk = MODELS_TABLE.partition_key
        values = {name: value for name, value in fields.items() if name != pk}
        key = {pk: {"S": model_id}}
        if not values:
            await self._create_if_missing(key)
            return
        names = {f"#f{i}": name for i, name in enumerate(values)}
        attrs = {f":v{i}": to_attribute(value) for i, value in enumerate(values.values())}
        expression = "SET " + ", ".join(f"#f{i} = :v{i}" for i in range(len(values)))
        await self._call(
            "update_item",
            TableName=self.table_name,
            Key=key,
            UpdateExpression=expression,
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=attrs,
        )

    async def _create_if_missing(self, key: dict[str, Any]) -> None:
        try:
            await self._call(
                "put_item",
                TableName=self.table_name,
                Item=key,
                ConditionExpression="attribute_not_exists(#pk)",
                ExpressionAttributeNames={"#pk": MODELS_TABLE.partition_key},
            )
        except _ConditionFailed:
            return


class DynamoDBMetricsBackend(_Table):
    """``MetricsBackend``: one UpdateItem (ADD counters, SET TTL) per call; paginated Query."""

    async def add(
        self, model_id: str, bucket: str, counters: dict[str, float], expires_at: int
    ) -> None:
        check_counter_names(counters)
        spec = METRICS_TABLE
        names = {"#ttl": str(spec.ttl_attribute)}
        values: dict[str, Any] = {":ttl": to_attribute(int(expires_at))}
        adds = []
        for i, (name, amount) in enumerate(counters.items()):
            names[f"#c{i}"] = name
            values[f":c{i}"] = to_attribute(amount)
            adds.append(f"#c{i} :c{i}")
        expression = "SET #ttl = :ttl" + (" ADD " + ", ".join(adds) if adds else "")
        await self._call(
            "update_item",
            TableName=self.table_name,
            Key={spec.partition_key: {"S": model_id}, str(spec.sort_key): {"S": bucket}},
            UpdateExpression=expression,
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
        )

    async def query(self, model_id: str, since_bucket: str) -> list[dict[str, Any]]:
        spec = METRICS_TABLE
        condition, names = "#pk = :pk", {"#pk": spec.partition_key}
        values = {":pk": {"S": model_id}}
        if since_bucket:  # DynamoDB refuses an empty key value; "" means every bucket
            condition += " AND #sk >= :since"
            names["#sk"] = str(spec.sort_key)
            values[":since"] = {"S": since_bucket}
        items = await self._pages(
            "query",
            KeyConditionExpression=condition,
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
        )
        return [_metrics_row(item) for item in items]


def _metrics_row(item: dict[str, Any]) -> dict[str, Any]:
    row = dict(item)
    model_id = row.pop(METRICS_TABLE.partition_key)
    bucket = row.pop(str(METRICS_TABLE.sort_key))
    return {"model_id": model_id, "bucket": bucket, **row}


class DynamoDBDebateBackend(_Table):
    """``DebateBackend``: pk = debate id, sk = the document's key, ``doc`` = its JSON."""

    def _item(self, debate_id: str, sort_key: str, doc: str, expires_at: int) -> dict[str, Any]:
        return {
            "pk": {"S": debate_id},
            "sk": {"S": sort_key},
            "doc": {"S": doc},
            "expires_at": {"N": str(expires_at)},
        }

    async def put_new(self, debate_id: str, sort_key: str, doc: str, expires_at: int) -> bool:
        try:
            await self._call(
                "put_item",
                TableName=self.table_name,
                Item=self._item(debate_id, sort_key, doc, expires_at),
                ConditionExpression="attribute_not_exists(pk)",
            )
        except _ConditionFailed:
            return False
        return True

    async def put(self, debate_id: str, sort_key: str, doc: str, expires_at: int) -> None:
        await self._call(
            "put_item",
            TableName=self.table_name,
            Item=self._item(debate_id, sort_key, doc, expires_at),
        )

    async def load(self, debate_id: str) -> dict[str, str]:
        items = await self._pages(
            "query",
            KeyConditionExpression="pk = :id",
            ExpressionAttributeValues={":id": {"S": debate_id}},
            ConsistentRead=True,
        )
        return {str(item["sk"]): str(item["doc"]) for item in items}


class DynamoDBResponseBackend(_Table):
    """``ResponseBackend``: pk = response id, ``doc`` = its JSON zlib-compressed (an item
    holds at most 400 KB), ``expires_at`` = the TTL attribute. Reads are consistent (the
    next turn may reach another instance at once) and skip items past their expiry, which
    DynamoDB's TTL sweep may leave for a while."""

    async def put(self, response_id: str, doc: str, expires_at: int) -> None:
        item = {
            RESPONSES_TABLE.partition_key: {"S": response_id},
            "doc": {"B": zlib.compress(doc.encode(), 6)},
            str(RESPONSES_TABLE.ttl_attribute): {"N": str(int(expires_at))},
        }
        await self._call("put_item", TableName=self.table_name, Item=item)

    async def get(self, response_id: str) -> str | None:
        response = await self._call(
            "get_item",
            TableName=self.table_name,
            Key={RESPONSES_TABLE.partition_key: {"S": response_id}},
            ConsistentRead=True,
        )
        item = response.get("Item")
        if not item:
            return None
        if int(item[str(RESPONSES_TABLE.ttl_attribute)]["N"]) <= time.time():
            return None
        return zlib.decompress(item["doc"]["B"]).decode()
