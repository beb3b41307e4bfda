"""Spend rows: what each key spent on each model on each UTC day (``GET /v1/spend``).

One item per (day, key, model) in the metrics table: pk ``spend#<YYYY-MM-DD>``, sk
``<key id>#<model id>``, counters ``cost_nanos``, ``requests``, ``prompt_tokens``,
``completion_tokens``, ``cached_tokens``, ``cache_hits``, ``saved_nanos`` (answers from the
gateway's cache: cost 0, what they would have cost) and the key's ``team``. The metering code writes one
UpdateItem (``ADD``) per settled upstream call, concurrently with the ledger's settle, so
the request path gains no round trip in sequence. Counters only ever grow by ``ADD``: two
instances adding to the same row never lose each other's spend.

A report reads one Query per day (``begins_with(sk, "<key id>#")`` for one key), the days
side by side. Rows are kept :data:`SPEND_TTL_DAYS` (the table's TTL), a year of reports.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import date, timedelta
from typing import Any

from orchestra.governance.protocols import SpendRow
from orchestra.storage.dynamodb import _Table
from orchestra.storage.tables import METRICS_TABLE

PK_PREFIX = "spend#"
#: rows older than this are removed by the table's TTL
SPEND_TTL_DAYS = 400
COUNTERS = (
    "cost_nanos",
    "requests",
    "prompt_tokens",
    "completion_tokens",
    "cached_tokens",
    # answers served from the gateway's cache (issue 19) and what they would have cost
    "cache_hits",
    "saved_nanos",
)
#: counters left out of an update that adds 0 to them (a row that never saw a cache hit
#: holds no cache attributes: reads take a missing counter as 0)
OPTIONAL = frozenset({"cache_hits", "saved_nanos"})


def days_between(day_from: str, day_to: str) -> list[str]:
    """Every ISO day from ``day_from`` to ``day_to``, inclusive (empty when reversed)."""
    start, end = date.fromisoformat(day_from), date.fromisoformat(day_to)
    return [(start + timedelta(days=i)).isoformat() for i in range((end - start).days + 1)]


def _counters(row: SpendRow) -> dict[str, int]:
    return {name: int(getattr(row, name)) for name in COUNTERS}


class MemorySpendBackend:
    """``SpendBackend`` in a dict (local serve, tests)."""

    def __init__(self) -> None:
        self._rows: dict[tuple[str, str, str], SpendRow] = {}

    async def add(self, row: SpendRow) -> None:
        key = (row.day, row.key_id, row.model)
        held = self._rows.get(key)
        if held is None:
            self._rows[key] = row
            return
        sums = {name: value + getattr(row, name) for name, value in _counters(held).items()}
        self._rows[key] = replace(held, team=row.team, **sums)

    async def query(self, day_from: str, day_to: str, key_id: str | None = None) -> list[SpendRow]:
        days = set(days_between(day_from, day_to))
        return [
            row
            for (day, key, _), row in sorted(self._rows.items())
            if day in days and (key_id is None or key == key_id)
        ]


class DynamoDBSpendBackend(_Table):
    """``SpendBackend`` on the metrics table: UpdateItem ``ADD`` per row; Query per day."""

    async def add(self, row: SpendRow) -> None:
        names = {"#ttl": str(METRICS_TABLE.ttl_attribute)}
        expires = date.fromisoformat(row.day) + timedelta(days=SPEND_TTL_DAYS)
        # integers only: written as DynamoDB numbers directly (no serializer on the hot path)
        values: dict[str, Any] = {":ttl": {"N": str(_epoch(expires))}}
        adds = []
        for i, (name, amount) in enumerate(_counters(row).items()):
            if not amount and name in OPTIONAL:  # most rows: no answer from cache
                continue
            names[f"#c{i}"], values[f":c{i}"] = name, {"N": str(amount)}
            adds.append(f"#c{i} :c{i}")
        sets = "SET #ttl = :ttl"
        if row.team is not None:  # the key's team when it spent (a report groups by it)
            names["#team"], values[":team"] = "team", {"S": row.team}
            sets += ", #team = :team"
        await self._call(
            "update_item",
            TableName=self.table_name,
            Key=_key(row.day, f"{row.key_id}#{row.model}"),
            UpdateExpression=f"{sets} ADD {', '.join(adds)}",
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
        )

    async def query(self, day_from: str, day_to: str, key_id: str | None = None) -> list[SpendRow]:
        days = days_between(day_from, day_to)
        pages = await asyncio.gather(*(self._day(day, key_id) for day in days))
        return [row for page in pages for row in page]

    async def _day(self, day: str, key_id: str | None) -> list[SpendRow]:
        spec = METRICS_TABLE
        condition = "#pk = :pk"
        names = {"#pk": spec.partition_key}
        values: dict[str, Any] = {":pk": {"S": PK_PREFIX + day}}
        if key_id is not None:
            condition += " AND begins_with(#sk, :prefix)"
            names["#sk"] = str(spec.sort_key)
            values[":prefix"] = {"S": key_id + "#"}
        items = await self._pages(
            "query",
            KeyConditionExpression=condition,
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
        )
        return [_row(day, item) for item in items]


def _key(day: str, sort_key: str) -> dict[str, Any]:
    spec = METRICS_TABLE
    return {spec.partition_key: {"S": PK_PREFIX + day}, str(spec.sort_key): {"S": sort_key}}


def _epoch(day: date) -> int:
    return (day - date(1970, 1, 1)).days * 86_400


def _row(day: str, item: dict[str, Any]) -> SpendRow:
    # ``item`` is already decoded by ``_pages``; key ids never hold '#', model ids may
    key_id, _, model = str(item[str(METRICS_TABLE.sort_key)]).partition("#")
    team = item.get("team")
    return SpendRow(
        day=day,
        key_id=key_id,
        team=str(team) if team is not None else None,
        model=model,
        **{name: int(item.get(name, 0)) for name in COUNTERS},
    )
