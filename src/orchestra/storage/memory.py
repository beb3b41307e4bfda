"""In-memory storage backends with the same semantics as the DynamoDB ones.

Used by ``orchestra serve`` without an AWS account and by the tests. Each operation
yields to the event loop once (as a network round trip would, so concurrent callers
interleave) and then runs to completion without awaiting, which makes it atomic under
asyncio: the conditional version check and the write cannot be split.
"""

from __future__ import annotations

import asyncio
import copy
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from orchestra.storage.protocols import (
    RECORD_FIELDS,
    BreakerState,
    check_catalog_fields,
    check_counter_names,
    check_record_counters,
    plain_numbers,
)


class MemoryBreakerBackend:
    """``BreakerBackend`` over a dict."""

    def __init__(self) -> None:
        self.calls = 0
        self._items: dict[str, BreakerState] = {}

    async def get_many(self, model_ids: Sequence[str]) -> dict[str, BreakerState]:
        if not model_ids:
            return {}
        self.calls += 1
        await asyncio.sleep(0)
        return {m: self._items[m] for m in dict.fromkeys(model_ids) if m in self._items}

    async def put_if_version(self, state: BreakerState, expected_version: int) -> bool:
        self.calls += 1
        await asyncio.sleep(0)
        current = self._items.get(state.model_id)
        stored_version = current.version if current is not None else 0
        if stored_version != expected_version:
            return False
        self._items[state.model_id] = replace(state, version=expected_version + 1)
        return True


class MemoryCatalogBackend:
    """``CatalogBackend`` over a dict; values are copied in and out, like a real store."""

    def __init__(self) -> None:
        self.calls = 0
        self._items: dict[str, dict[str, Any]] = {}

    async def load_all(self) -> list[dict[str, Any]]:
        self.calls += 1
        await asyncio.sleep(0)
        return [plain_numbers(copy.deepcopy(item)) for item in self._items.values()]

    async def upsert(self, model_id: str, fields: dict[str, Any]) -> None:
        check_catalog_fields(model_id, fields)
        self.calls += 1
        await asyncio.sleep(0)
        item = self._items.setdefault(model_id, {"model_id": model_id})
        item.update(copy.deepcopy(fields))


class MemoryMetricsBackend:
    """``MetricsBackend`` over a dict keyed by (model id, bucket)."""

    def __init__(self) -> None:
        self.calls = 0
        self._items: dict[tuple[str, str], dict[str, Any]] = {}

    async def add(
        self, model_id: str, bucket: str, counters: dict[str, float], expires_at: int
    ) -> None:
        check_counter_names(counters)
        self.calls += 1
        await asyncio.sleep(0)
        item = self._items.setdefault((model_id, bucket), {})
        for name, amount in counters.items():
            item[name] = item.get(name, 0) + amount
        item["expires_at"] = expires_at

    async def query(self, model_id: str, since_bucket: str) -> list[dict[str, Any]]:
        self.calls += 1
        await asyncio.sleep(0)
        found = [
            {"model_id": model, "bucket": bucket, **plain_numbers(item)}
            for (model, bucket), item in self._items.items()
            if model == model_id and bucket >= since_bucket
        ]
        return sorted(found, key=lambda item: str(item["bucket"]))


class MemoryDebateBackend:
    """``DebateBackend`` over a dict (expiry is not enforced in memory)."""

    def __init__(self) -> None:
        self.calls = 0
        self._items: dict[str, dict[str, str]] = {}

    async def put_new(self, debate_id: str, sort_key: str, doc: str, expires_at: int) -> bool:
        self.calls += 1
        await asyncio.sleep(0)
        docs = self._items.setdefault(debate_id, {})
        if sort_key in docs:
            return False
        docs[sort_key] = doc
        return True

    async def put(self, debate_id: str, sort_key: str, doc: str, expires_at: int) -> None:
        self.calls += 1
        await asyncio.sleep(0)
        self._items.setdefault(debate_id, {})[sort_key] = doc

    async def load(self, debate_id: str) -> dict[str, str]:
        self.calls += 1
        await asyncio.sleep(0)
        return dict(self._items.get(debate_id, {}))


class MemoryResponseBackend:
    """``ResponseBackend`` over a dict; expired documents are not found."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.calls = 0
        self._items: dict[str, tuple[str, int]] = {}
        self._clock = clock

    async def put(self, response_id: str, doc: str, expires_at: int) -> None:
        self.calls += 1
        await asyncio.sleep(0)
        self._items[response_id] = (doc, expires_at)

    async def get(self, response_id: str) -> str | None:
        self.calls += 1
        await asyncio.sleep(0)
        found = self._items.get(response_id)
        if found is None or found[1] <= self._clock():
            return None
        return found[0]


class MemoryRecordBackend:
    """``RecordBackend`` over a dict of partitions; each item is a dict of attributes (the
    ``doc``, ``expires_at`` and counters), as in DynamoDB, so a ``put`` replaces an item's
    counters too. Expiry is not enforced in memory (a local process does not live that long).
    """

    def __init__(self) -> None:
        self.calls = 0
        self._items: dict[str, dict[str, dict[str, Any]]] = {}

    async def _tick(self) -> None:
        self.calls += 1
        await asyncio.sleep(0)

    async def put_new(self, pk: str, sk: str, doc: str, expires_at: int | None) -> bool:
        await self._tick()
        partition = self._items.setdefault(pk, {})
        if sk in partition:
            return False
        partition[sk] = _record(doc, expires_at)
        return True

    async def put(self, pk: str, sk: str, doc: str, expires_at: int | None) -> None:
        await self._tick()
        self._items.setdefault(pk, {})[sk] = _record(doc, expires_at)

    async def get(self, pk: str, sk: str) -> str | None:
        await self._tick()
        doc = self._items.get(pk, {}).get(sk, {}).get("doc")
        return None if doc is None else str(doc)

    async def load(self, pk: str) -> dict[str, str]:
        await self._tick()
        partition = self._items.get(pk, {})
        return {sk: str(item["doc"]) for sk, item in sorted(partition.items()) if "doc" in item}

    async def add(
        self, pk: str, sk: str, counters: dict[str, int], expires_at: int | None
    ) -> dict[str, int]:
        check_record_counters(counters)
        await self._tick()
        item = self._items.setdefault(pk, {}).setdefault(sk, {})
        for name, amount in counters.items():
            item[name] = int(item.get(name, 0)) + int(amount)
        if expires_at is not None:
            item["expires_at"] = int(expires_at)
        return _counters(item)

    async def counters(self, pk: str, sk: str) -> dict[str, int]:
        await self._tick()
        return _counters(self._items.get(pk, {}).get(sk, {}))

    async def page(
        self, pk: str, *, after: str | None = None, limit: int = 20, descending: bool = True
    ) -> list[tuple[str, str]]:
        await self._tick()
        rows = sorted(
            (
                (sk, str(item["doc"]))
                for sk, item in self._items.get(pk, {}).items()
                if "doc" in item
            ),
            reverse=descending,
        )
        if after is not None:
            rows = [row for row in rows if (row[0] < after if descending else row[0] > after)]
        return rows[: max(limit, 0)]

    async def delete(self, pk: str, sk: str) -> None:
        await self._tick()
        self._items.get(pk, {}).pop(sk, None)


def _record(doc: str, expires_at: int | None) -> dict[str, Any]:
    item: dict[str, Any] = {"doc": doc}
    if expires_at is not None:
        item["expires_at"] = int(expires_at)
    return item


def _counters(item: dict[str, Any]) -> dict[str, int]:
    return {name: int(value) for name, value in item.items() if name not in RECORD_FIELDS}
