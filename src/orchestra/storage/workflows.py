"""Workflow records (chains, chain runs, files, batches) in the workflows table.

One item per (pk, sk): the JSON document in ``doc`` (a string), ``expires_at`` (the TTL
attribute; absent for records kept until deleted, such as a chain's versions) and any
counters as number attributes, added atomically with UpdateItem ADD (a batch's completed
and failed lines, added by chunks running at once). Every read is consistent: a step reads
what the step before it wrote, possibly from another Lambda a moment earlier.
"""

from __future__ import annotations

from typing import Any

from orchestra.storage.dynamodb import _ConditionFailed, _Table, from_item
from orchestra.storage.protocols import RECORD_FIELDS, check_record_counters
from orchestra.storage.tables import WORKFLOWS_TABLE

_PK, _SK = WORKFLOWS_TABLE.partition_key, str(WORKFLOWS_TABLE.sort_key)
_TTL = str(WORKFLOWS_TABLE.ttl_attribute)


def _key(pk: str, sk: str) -> dict[str, Any]:
    return {_PK: {"S": pk}, _SK: {"S": sk}}


def _item(pk: str, sk: str, doc: str, expires_at: int | None) -> dict[str, Any]:
    item = {**_key(pk, sk), "doc": {"S": doc}}
    if expires_at is not None:
        item[_TTL] = {"N": str(int(expires_at))}
    return item


def _counters(item: dict[str, Any]) -> dict[str, int]:
    """The number attributes of a decoded item that are not its key, doc or TTL."""
    return {
        name: int(value)
        for name, value in item.items()
        if name not in RECORD_FIELDS and isinstance(value, int | float)
    }


class DynamoDBRecordBackend(_Table):
    """``RecordBackend`` over the workflows table (``WORKFLOWS_TABLE``)."""

    async def put_new(self, pk: str, sk: str, doc: str, expires_at: int | None) -> bool:
        try:
            await self._call(
                "put_item",
                TableName=self.table_name,
                Item=_item(pk, sk, doc, expires_at),
                ConditionExpression="attribute_not_exists(#pk)",
                ExpressionAttributeNames={"#pk": _PK},
            )
        except _ConditionFailed:
            return False
        return True

    async def put(self, pk: str, sk: str, doc: str, expires_at: int | None) -> None:
        await self._call("put_item", TableName=self.table_name, Item=_item(pk, sk, doc, expires_at))

    async def _get_item(self, pk: str, sk: str) -> dict[str, Any]:
        response = await self._call(
            "get_item", TableName=self.table_name, Key=_key(pk, sk), ConsistentRead=True
        )
        return from_item(response.get("Item") or {})

    async def get(self, pk: str, sk: str) -> str | None:
        doc = (await self._get_item(pk, sk)).get("doc")
        return None if doc is None else str(doc)

    async def load(self, pk: str) -> dict[str, str]:
        items = await self._pages(
            "query",
            KeyConditionExpression="#pk = :pk",
            ExpressionAttributeNames={"#pk": _PK},
            ExpressionAttributeValues={":pk": {"S": pk}},
            ConsistentRead=True,
        )
        return {str(item[_SK]): str(item["doc"]) for item in items if "doc" in item}

    async def add(
        self, pk: str, sk: str, counters: dict[str, int], expires_at: int | None
    ) -> dict[str, int]:
        check_record_counters(counters)
        names: dict[str, str] = {}
        values: dict[str, Any] = {}
        adds = []
        for i, (name, amount) in enumerate(counters.items()):
            names[f"#c{i}"], values[f":c{i}"] = name, {"N": str(int(amount))}
            adds.append(f"#c{i} :c{i}")
        clauses = []
        if expires_at is not None:
            names["#ttl"], values[":ttl"] = _TTL, {"N": str(int(expires_at))}
            clauses.append("SET #ttl = :ttl")
        if adds:
            clauses.append("ADD " + ", ".join(adds))
        if not clauses:
            return await self.counters(pk, sk)
        response = await self._call(
            "update_item",
            TableName=self.table_name,
            Key=_key(pk, sk),
            UpdateExpression=" ".join(clauses),
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
            ReturnValues="ALL_NEW",
        )
        return _counters(from_item(response.get("Attributes") or {}))

    async def counters(self, pk: str, sk: str) -> dict[str, int]:
        return _counters(await self._get_item(pk, sk))

    async def page(
        self, pk: str, *, after: str | None = None, limit: int = 20, descending: bool = True
    ) -> list[tuple[str, str]]:
        """Query pages until ``limit`` documents (counter-only items are filtered out,
        and DynamoDB applies ``Limit`` before the filter, so one page may fall short)."""
        rows: list[tuple[str, str]] = []
        kwargs: dict[str, Any] = {
            "TableName": self.table_name,
            "KeyConditionExpression": "#pk = :pk",
            "FilterExpression": "attribute_exists(#doc)",
            "ExpressionAttributeNames": {"#pk": _PK, "#doc": "doc"},
            "ExpressionAttributeValues": {":pk": {"S": pk}},
            "ScanIndexForward": not descending,
            "ConsistentRead": True,
        }
        if after is not None:
            kwargs["ExclusiveStartKey"] = _key(pk, after)
        while len(rows) < limit:
            response = await self._call("query", Limit=limit - len(rows), **kwargs)
            for raw in response.get("Items", []):
                item = from_item(raw)
                rows.append((str(item[_SK]), str(item["doc"])))
            last_key = response.get("LastEvaluatedKey")
            if not last_key:
                break
            kwargs["ExclusiveStartKey"] = last_key
        return rows

    async def delete(self, pk: str, sk: str) -> None:
        await self._call("delete_item", TableName=self.table_name, Key=_key(pk, sk))
