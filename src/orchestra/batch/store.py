"""Files and batches over the workflows table (:class:`RecordBackend`) and the blob store.

Key layout (pk / sk; docs/workflows.md):

- ``file#<id>`` / ``meta``: the :class:`FileRecord`; its bytes at ``blob`` (uploads:
  ``files/<id>.jsonl``); listed under ``files#<key id>`` / ``<created_at:010d>#<id>``.
- ``batch#<id>`` / ``header`` (written once), ``execution``, ``prepared``, ``cancel``,
  ``expired``, ``finalizing``, ``outcome``: each written by the one step that owns it, so no step
  rewrites another's document; counters ``counts`` (completed, failed, chunks_done and the
  completed lines' tokens: input_tokens, output_tokens, total_tokens, cached_tokens,
  reasoning_tokens).
  Listed under ``batches#<key id>`` / ``<created_at:010d>#<id>``.
- ``batchchunk#<id>`` / ``<chunk:06d>``: a chunk's counts, written once (a retried chunk
  adds its counts once).
- blobs under ``batches/<id>/``: ``manifest.jsonl``, ``parts/<chunk:06d>.out.jsonl`` and
  ``.err.jsonl``, ``output.jsonl``, ``errors.jsonl``.
"""

from __future__ import annotations

import json
import time
from typing import Any

from pydantic import BaseModel, Field

from orchestra.batch.files import FileRecord
from orchestra.errors import WorkflowNotFound
from orchestra.storage.protocols import BlobStore, RecordBackend

DAY_S = 86_400


class BatchRecord(BaseModel):
    """A batch as created (the header): what never changes."""

    id: str
    input_file_id: str
    endpoint: str
    completion_window: str = "24h"
    metadata: dict[str, str] | None = None
    created_at: int
    expires_at: int
    key_id: str | None = None
    total: int = 0


class BatchState(BaseModel):
    """Everything stored about one batch, read in one query (plus its counters)."""

    header: BatchRecord
    execution_arn: str | None = None
    prepared: dict[str, Any] | None = None
    cancel: dict[str, Any] | None = None
    expired: dict[str, Any] | None = None
    finalizing: dict[str, Any] | None = None
    outcome: dict[str, Any] | None = None
    counts: dict[str, int] = Field(default_factory=dict)


def part_key(batch_id: str, chunk: int, kind: str) -> str:
    return f"batches/{batch_id}/parts/{chunk:06d}.{kind}.jsonl"


def manifest_key(batch_id: str) -> str:
    return f"batches/{batch_id}/manifest.jsonl"


def owner(key_id: str | None) -> str:
    return key_id or "anonymous"


class BatchStore:
    def __init__(self, records: RecordBackend, blobs: BlobStore, ttl_days: int = 30) -> None:
        self.records = records
        self.blobs = blobs
        self.ttl_s = ttl_days * DAY_S

    def expires(self) -> int:
        return int(time.time()) + self.ttl_s

    # --- files ------------------------------------------------------------------------

    async def add_file(self, record: FileRecord, data: bytes | None) -> None:
        """The bytes first (a record never points at nothing), then the record and its
        listing entry."""
        if data is not None:
            await self.blobs.put(record.blob, data)
        doc, expires = record.model_dump_json(), record.expires_at or self.expires()
        await self.records.put(f"file#{record.id}", "meta", doc, expires)
        sort = f"{record.created_at:010d}#{record.id}"
        await self.records.put(f"files#{owner(record.key_id)}", sort, doc, expires)

    async def file(self, file_id: str) -> FileRecord:
        doc = await self.records.get(f"file#{file_id}", "meta")
        if doc is None:
            raise WorkflowNotFound(f"No such File object: {file_id}", param="file_id")
        return FileRecord.model_validate_json(doc)

    async def files(self, key_id: str | None, after: str | None, limit: int) -> list[FileRecord]:
        pk = f"files#{owner(key_id)}"
        start = None
        if after is not None:
            start = f"{(await self.file(after)).created_at:010d}#{after}"
        page = await self.records.page(pk, after=start, limit=limit)
        return [FileRecord.model_validate_json(doc) for _, doc in page]

    async def delete_file(self, record: FileRecord) -> None:
        """The bytes first, then the records: a refused object delete (S3 AccessDenied, an
        outage) raises before any record is gone, so the file is still listed and the
        DELETE can be retried; the other order would leave bytes no record points to."""
        await self.blobs.delete([record.blob])
        await self.records.delete(f"file#{record.id}", "meta")
        sort = f"{record.created_at:010d}#{record.id}"
        await self.records.delete(f"files#{owner(record.key_id)}", sort)

    # --- batches ----------------------------------------------------------------------

    async def create(self, header: BatchRecord) -> None:
        expires = self.expires()
        await self.records.put_new(
            f"batch#{header.id}", "header", header.model_dump_json(), expires
        )
        sort = f"{header.created_at:010d}#{header.id}"
        doc = json.dumps({"id": header.id})
        await self.records.put(f"batches#{owner(header.key_id)}", sort, doc, expires)

    async def state(self, batch_id: str) -> BatchState:
        docs = await self.records.load(f"batch#{batch_id}")
        if "header" not in docs:
            raise WorkflowNotFound(f"No such Batch object: {batch_id}", param="batch_id")
        found = {sk: json.loads(doc) for sk, doc in docs.items() if sk != "header"}
        return BatchState(
            header=BatchRecord.model_validate_json(docs["header"]),
            execution_arn=(found.get("execution") or {}).get("arn"),
            prepared=found.get("prepared"),
            cancel=found.get("cancel"),
            expired=found.get("expired"),
            finalizing=found.get("finalizing"),
            outcome=found.get("outcome"),
            counts=await self.records.counters(f"batch#{batch_id}", "counts"),
        )

    async def mark(self, batch_id: str, what: str, doc: dict[str, Any]) -> bool:
        """Write the step's document once (``prepared``, ``cancel``, ``expired``,
        ``finalizing``, ``outcome``, ``execution``): False when it was already there."""
        return await self.records.put_new(
            f"batch#{batch_id}", what, json.dumps(doc), self.expires()
        )

    async def cancelled(self, batch_id: str) -> bool:
        return await self.records.get(f"batch#{batch_id}", "cancel") is not None

    async def chunk_done(
        self,
        batch_id: str,
        chunk: int,
        completed: int,
        failed: int,
        usage: dict[str, int] | None = None,
    ) -> None:
        """Count a chunk's lines and tokens once, however often the chunk ran: one
        conditional put and one counter update (UpdateItem ADD) per chunk, never per line."""
        doc = json.dumps({"completed": completed, "failed": failed})
        expires = self.expires()
        if await self.records.put_new(f"batchchunk#{batch_id}", f"{chunk:06d}", doc, expires):
            counts = {"completed": completed, "failed": failed, "chunks_done": 1, **(usage or {})}
            await self.records.add(f"batch#{batch_id}", "counts", counts, expires)

    async def is_chunk_done(self, batch_id: str, chunk: int) -> bool:
        return await self.records.get(f"batchchunk#{batch_id}", f"{chunk:06d}") is not None

    async def batch_ids(self, key_id: str | None, after: str | None, limit: int) -> list[str]:
        start = None
        if after is not None:
            start = f"{(await self.state(after)).header.created_at:010d}#{after}"
        page = await self.records.page(f"batches#{owner(key_id)}", after=start, limit=limit)
        return [json.loads(doc)["id"] for _, doc in page]
