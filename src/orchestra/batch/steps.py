"""The batch steps: what each task of the batch state machine does (and the local runner).

- ``prepare``: reads the input file once and writes the chunk manifest (one JSONL line per
  ``chunk_lines`` lines: byte range and first line number); the batch is in progress.
- ``chunk``: one ranged read of its bytes, its lines through :class:`ChunkProcessor` as the
  batch's creator, its two part files, then its counts (added once).
- ``chunk_failed``: a chunk whose task failed after its retries: every line of it becomes an
  error line (a failed line never fails the batch).
- ``finalize``: the parts concatenated into the output and error files (File records,
  purpose ``batch_output``), status completed, or cancelled when the flag is set, or
  expired when the completion window closed before every line ran.

Expiry is a check in the steps (deployed and local alike): past the batch's ``expires_at``
a chunk starts no further line (those running finish, as with cancel), writes each line it
did not start as a ``batch_expired`` error line (OpenAI's) and marks the batch ``expired``.
The execution itself has no timeout: a timed-out execution would never finalize.
- ``fail``: anything else went wrong: status failed, with the reason.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from orchestra.batch.files import FileRecord, new_file_id
from orchestra.batch.processor import ChunkProcessor, custom_ids, failed_line
from orchestra.batch.store import BatchState, BatchStore, manifest_key, part_key
from orchestra.errors import WorkflowFailed
from orchestra.governance.admission import admitted_as
from orchestra.states import cause_line

if TYPE_CHECKING:
    from orchestra.governance.admission import Governor


def chunks_of(data: bytes, chunk_lines: int) -> list[dict[str, int]]:
    """The manifest: ``{"chunk", "start", "end", "first_line", "lines"}`` per chunk of
    ``chunk_lines`` non-blank lines (``end`` exclusive; line numbers 1-based)."""
    manifest: list[dict[str, int]] = []
    start = position = count = 0
    first = 0
    for number, raw in enumerate(data.split(b"\n"), start=1):
        if raw.strip():
            if count == 0:
                start, first = position, number
            count += 1
        position = min(position + len(raw) + 1, len(data))
        if count == chunk_lines:
            manifest.append(_chunk(len(manifest), start, position, first, count))
            count = 0
    if count:
        manifest.append(_chunk(len(manifest), start, position, first, count))
    return manifest


#: OpenAI's message for a request its batch's completion window closed on
EXPIRED_MESSAGE = "This request could not be executed before the completion window expired."


def _chunk(index: int, start: int, end: int, first: int, lines: int) -> dict[str, int]:
    return {"chunk": index, "start": start, "end": end, "first_line": first, "lines": lines}


class BatchSteps:
    def __init__(
        self,
        store: BatchStore,
        processor: ChunkProcessor,
        chunk_lines: int = 100,
        governor: Governor | None = None,
    ) -> None:
        self.store = store
        self.processor = processor
        self.chunk_lines = chunk_lines
        self.governor = governor
        #: the time the completion window is checked against (tests move it)
        self.clock: Callable[[], float] = time.time

    async def run(self, event: dict[str, Any]) -> dict[str, Any]:
        """One step from a state-machine event ``{"step": ..., "batch_id": ..., ...}``."""
        step, batch_id = event.get("step"), str(event.get("batch_id") or "")
        if step == "prepare":
            return await self.prepare(batch_id, inline=bool(event.get("inline")))
        if step == "chunk":
            return await self.chunk(batch_id, _item(event))
        if step == "chunk_failed":
            return await self.chunk_failed(batch_id, _item(event), event.get("error"))
        if step == "finalize":
            return await self.finalize(batch_id)
        if step == "fail":
            return await self.fail(batch_id, event.get("error"))
        raise WorkflowFailed(f"unknown batch step {step!r}")

    async def prepare(self, batch_id: str, inline: bool = True) -> dict[str, Any]:
        """The manifest (returned only for the inline Map; the distributed one reads it)."""
        state = await self.store.state(batch_id)
        source = await self.store.file(state.header.input_file_id)
        data = await self.store.blobs.get(source.blob)
        manifest = chunks_of(data, self.chunk_lines)
        text = "".join(json.dumps(c, separators=(",", ":")) + "\n" for c in manifest)
        await self.store.blobs.put(manifest_key(batch_id), text.encode())
        total = sum(c["lines"] for c in manifest)
        prepared = {"in_progress_at": int(time.time()), "total": total, "chunks": len(manifest)}
        await self.store.mark(batch_id, "prepared", prepared)
        result: dict[str, Any] = {"batch_id": batch_id, "chunks": len(manifest), "total": total}
        if inline:
            result["manifest"] = manifest
        return result

    async def _lines(self, batch_id: str, item: dict[str, int]) -> tuple[BatchState, bytes] | None:
        """The batch and the chunk's lines (one ranged read of the input file); None when
        the chunk is done already (a retried or repeated task counts it once)."""
        if await self.store.is_chunk_done(batch_id, item["chunk"]):
            return None
        state = await self.store.state(batch_id)
        source = await self.store.file(state.header.input_file_id)
        return state, await self.store.blobs.get(source.blob, item["start"], item["end"])

    async def chunk(self, batch_id: str, item: dict[str, int]) -> dict[str, Any]:
        number = item["chunk"]
        if (found := await self._lines(batch_id, item)) is None:
            return {"chunk": number, "repeated": True}
        state, data = found
        deadline = state.header.expires_at

        async def stopped() -> bool:
            return self.clock() >= deadline or await self.store.cancelled(batch_id)

        async with admitted_as(self.governor, state.header.key_id):
            result = await self.processor.process(data, stopped)
        if result.skipped and not await self.store.cancelled(batch_id):
            await self._expired(batch_id, result.skipped_ids, result.errors)
        await self._parts(batch_id, number, b"".join(result.output), b"".join(result.errors))
        await self.store.chunk_done(batch_id, number, result.completed, result.failed, result.usage)
        return {"chunk": number, "completed": result.completed, "failed": result.failed}

    async def _expired(self, batch_id: str, custom_ids: list[str], errors: list[bytes]) -> None:
        """Lines a closed window stopped: OpenAI's ``batch_expired`` error lines, and the
        batch marked expired (once, at the first chunk that saw it)."""
        errors += [failed_line(c, "batch_expired", EXPIRED_MESSAGE) for c in custom_ids]
        await self.store.mark(batch_id, "expired", {"expired_at": int(self.clock())})

    async def chunk_failed(self, batch_id: str, item: dict[str, int], error: Any) -> dict[str, Any]:
        number = item["chunk"]
        if (found := await self._lines(batch_id, item)) is None:
            return {"chunk": number, "repeated": True}
        _, data = found
        message = f"the chunk of lines {item['first_line']}.. failed: {cause_line(error, 1_000)}"
        lines = [failed_line(c, "batch_chunk_failed", message) for c in custom_ids(data)]
        await self._parts(batch_id, number, b"", b"".join(lines))
        await self.store.chunk_done(batch_id, number, 0, len(lines))
        return {"chunk": number, "completed": 0, "failed": len(lines)}

    async def _parts(self, batch_id: str, number: int, output: bytes, errors: bytes) -> None:
        await self.store.blobs.put(part_key(batch_id, number, "out"), output)
        await self.store.blobs.put(part_key(batch_id, number, "err"), errors)

    async def finalize(self, batch_id: str) -> dict[str, Any]:
        state = await self.store.state(batch_id)
        if state.outcome is not None:
            return {"status": state.outcome["status"]}
        await self.store.mark(batch_id, "finalizing", {"finalizing_at": int(time.time())})
        chunks = int((state.prepared or {}).get("chunks", 0))
        owner = state.header.key_id
        output = await self._file(batch_id, chunks, "out", "output", owner)
        errors = await self._file(batch_id, chunks, "err", "errors", owner)
        status = "completed"
        if state.cancel is not None:
            status = "cancelled"
        elif state.expired is not None:
            status = "expired"
        outcome = {"status": status, "at": int(time.time()), "output_file_id": output}
        outcome["error_file_id"] = errors
        await self.store.mark(batch_id, "outcome", outcome)
        await self.store.blobs.delete(
            [part_key(batch_id, n, k) for n in range(chunks) for k in ("out", "err")]
        )
        return {"status": status}

    async def _file(
        self, batch_id: str, chunks: int, kind: str, name: str, owner: str | None
    ) -> str | None:
        """The parts as one file (a File record), or None when they hold nothing."""
        key = f"batches/{batch_id}/{name}.jsonl"
        parts = [part_key(batch_id, n, kind) for n in range(chunks)]
        size = await self.store.blobs.concat(key, parts, "application/jsonl")
        if size == 0:
            await self.store.blobs.delete([key])
            return None
        record = FileRecord(
            id=new_file_id(),
            bytes=size,
            created_at=int(time.time()),
            filename=f"batch_{batch_id.removeprefix('batch_')}_{name}.jsonl",
            purpose="batch_output",
            key_id=owner,
            blob=key,
            expires_at=self.store.expires(),  # the retention: the record's own TTL
        )
        await self.store.add_file(record, None)
        return record.id

    async def fail(self, batch_id: str, error: Any) -> dict[str, Any]:
        outcome = {"status": "failed", "at": int(time.time()), "error": cause_line(error, 1_000)}
        await self.store.mark(batch_id, "outcome", outcome)
        return {"status": "failed"}


def _item(event: dict[str, Any]) -> dict[str, int]:
    """The manifest item: ``event["item"]`` (as the Map hands it) or the event itself."""
    item = event.get("item", event)
    try:
        return {k: int(item[k]) for k in ("chunk", "start", "end", "first_line")}
    except (KeyError, TypeError, ValueError) as exc:
        raise WorkflowFailed(f"malformed chunk event: {sorted(event)}") from exc
