"""Workflow stores for the batch tests: the infra helper's memory backends when they are
there, small stand-ins (the same protocol) otherwise."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


class Records:
    """``RecordBackend`` in a dict (consistent reads, atomic counters)."""

    def __init__(self) -> None:
        self.docs: dict[tuple[str, str], str] = {}
        self.counts: dict[tuple[str, str], dict[str, int]] = {}

    async def put_new(self, pk: str, sk: str, doc: str, expires_at: int | None) -> bool:
        if (pk, sk) in self.docs:
            return False
        self.docs[pk, sk] = doc
        return True

    async def put(self, pk: str, sk: str, doc: str, expires_at: int | None) -> None:
        self.docs[pk, sk] = doc

    async def get(self, pk: str, sk: str) -> str | None:
        return self.docs.get((pk, sk))

    async def load(self, pk: str) -> dict[str, str]:
        return {sk: doc for (p, sk), doc in sorted(self.docs.items()) if p == pk}

    async def add(
        self, pk: str, sk: str, counters: dict[str, int], expires_at: int | None
    ) -> dict[str, int]:
        item = self.counts.setdefault((pk, sk), {})
        for name, value in counters.items():
            item[name] = item.get(name, 0) + value
        return dict(item)

    async def counters(self, pk: str, sk: str) -> dict[str, int]:
        return dict(self.counts.get((pk, sk), {}))

    async def page(
        self, pk: str, *, after: str | None = None, limit: int = 20, descending: bool = True
    ) -> list[tuple[str, str]]:
        keys = sorted((sk for p, sk in self.docs if p == pk), reverse=descending)
        if after is not None:
            keys = [k for k in keys if (k < after if descending else k > after)]
        return [(k, self.docs[pk, k]) for k in keys[:limit]]

    async def delete(self, pk: str, sk: str) -> None:
        self.docs.pop((pk, sk), None)


class Blobs:
    """``BlobStore`` in a dict; ``gets`` counts reads (a chunk makes one ranged read)."""

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}
        self.gets: list[tuple[str, int | None, int | None]] = []

    async def put(self, key: str, data: bytes, content_type: str = "application/jsonl") -> None:
        self.objects[key] = bytes(data)

    async def get(self, key: str, start: int | None = None, end: int | None = None) -> bytes:
        self.gets.append((key, start, end))
        data = self.objects[key]
        return data[start or 0 : end if end is not None else len(data)]

    async def size(self, key: str) -> int | None:
        found = self.objects.get(key)
        return None if found is None else len(found)

    async def concat(self, key: str, parts: Sequence[str], content_type: str) -> int:
        data = b"".join(self.objects[p] for p in parts if p in self.objects)
        self.objects[key] = data
        return len(data)

    async def delete(self, keys: Sequence[str]) -> None:
        for key in keys:
            self.objects.pop(key, None)

    async def link(self, key: str, expires_s: int) -> str | None:
        return None


def memory_workflow_stores() -> tuple[Any, Any]:
    """(records, blobs): the real memory backends if present, else the stand-ins."""
    try:
        from orchestra.storage.blobs import MemoryBlobStore
        from orchestra.storage.memory import MemoryRecordBackend
    except ImportError:
        return Records(), Blobs()
    return MemoryRecordBackend(), MemoryBlobStore()
