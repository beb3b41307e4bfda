"""The Files and Batch APIs' use cases: upload, read and list files; create, read, cancel
and list batches. A file or batch belongs to the key that created it: another key's id is
a 404, as an unknown one is."""

from __future__ import annotations

import builtins
import json
import logging
import time

from orchestra.batch.files import (
    UPLOAD_PURPOSES,
    FileRecord,
    check_batch_file,
    new_file_id,
    sortable_hex,
)
from orchestra.batch.protocols import Starter
from orchestra.batch.store import BatchRecord, BatchState, BatchStore
from orchestra.caller import current_principal
from orchestra.errors import InvalidRequest, WorkflowConflict, WorkflowNotFound
from orchestra.schemas.batch import (
    Batch,
    BatchError,
    BatchErrors,
    BatchList,
    BatchUsage,
    CreateBatch,
    FileDeleted,
    FileList,
    FileObject,
    InputTokensDetails,
    OutputTokensDetails,
    RequestCounts,
)

log = logging.getLogger("orchestra.batch")

#: a batch must finish within its completion window (OpenAI's only one: 24h)
WINDOW_S = 86_400
TERMINAL = ("completed", "failed", "cancelled", "expired")
#: a download link's lifetime: the client follows it at once (S3 checks it when a GET starts)
LINK_EXPIRES_S = 300
#: a file larger than this is answered with a link, not its bytes (a Lambda response is
#: at most 6 MB, headers included)
INLINE_BYTES = 5_000_000


#: the most a byte grows escaped in a JSON string (a control character: ``\\u0001``)
ESCAPE_MAX = 6


def response_body_bytes(data: bytes) -> int:
    """``data``'s size as a Lambda proxy response's body: a JSON string (quotes and
    backslashes doubled, non-ASCII as ``\\uXXXX``: 3x for an accented letter, 6x for a
    control character), or base64 when it is not UTF-8."""
    try:
        text = data.decode()
    except UnicodeDecodeError:
        return 4 * ((len(data) + 2) // 3)
    return len(json.dumps(text))


def _caller() -> str:
    return current_principal().key_id


class FileService:
    def __init__(
        self, store: BatchStore, max_bytes: int, max_lines: int, inline_bytes: int = INLINE_BYTES
    ) -> None:
        self.store = store
        self.max_bytes = max_bytes
        self.max_lines = max_lines
        self.inline_bytes = inline_bytes

    async def create(self, data: bytes, filename: str, purpose: str) -> FileObject:
        """Validate (line by line for purpose ``batch``) and store the file."""
        if purpose not in UPLOAD_PURPOSES:
            raise InvalidRequest(
                f"purpose must be one of {', '.join(UPLOAD_PURPOSES)}", param="purpose"
            )
        checked = check_batch_file(data, max_bytes=self.max_bytes, max_lines=self.max_lines)
        file_id = new_file_id()
        record = FileRecord(
            id=file_id,
            bytes=len(data),
            created_at=int(time.time()),
            filename=filename[:255] or "upload.jsonl",
            purpose=purpose,
            key_id=_caller(),
            lines=checked.lines,
            url=checked.url,
            blob=f"files/{file_id}.jsonl",
        )
        await self.store.add_file(record, data)
        return record.public()

    async def record(self, file_id: str) -> FileRecord:
        """The caller's file (another key's is not found)."""
        found = await self.store.file(file_id)
        if found.key_id not in (None, _caller()):
            raise WorkflowNotFound(f"No such File object: {file_id}", param="file_id")
        return found

    async def retrieve(self, file_id: str) -> FileObject:
        return (await self.record(file_id)).public()

    async def content(self, file_id: str) -> bytes:
        return await self.store.blobs.get((await self.record(file_id)).blob)

    async def download(self, file_id: str) -> bytes | str:
        """The file's bytes, or a short-lived URL to fetch them from when the blob store
        can hand one out (S3) and they would take more than ``inline_bytes`` in a Lambda
        response (at most 6 MB): first by the recorded size (no read), then, for a file
        under it, by its size as the response body (escaped, it can be larger)."""
        record = await self.record(file_id)
        if record.bytes > self.inline_bytes:
            link = await self.store.blobs.link(record.blob, LINK_EXPIRES_S)
            if link is not None:
                return link
        data = await self.store.blobs.get(record.blob)
        may_grow_past = record.bytes <= self.inline_bytes < record.bytes * ESCAPE_MAX + 2
        if may_grow_past and response_body_bytes(data) > self.inline_bytes:
            link = await self.store.blobs.link(record.blob, LINK_EXPIRES_S)
            if link is not None:
                return link
        return data

    async def list(self, after: str | None, limit: int, purpose: str | None = None) -> FileList:
        """Newest first. The purpose filter reads on past files of other purposes (a
        batch's output files are newer than its input), so a page is never empty while
        ``has_more`` says there are more."""
        found = await self._matching(after, limit + 1, purpose)
        page = [f.public() for f in found[:limit]]
        return FileList(
            data=page,
            first_id=page[0].id if page else None,
            last_id=page[-1].id if page else None,
            has_more=len(found) > limit,
        )

    async def _matching(
        self, after: str | None, wanted: int, purpose: str | None
    ) -> builtins.list[FileRecord]:
        matched: builtins.list[FileRecord] = []
        while len(matched) < wanted:
            found = await self.store.files(_caller(), after, wanted)
            matched += [f for f in found if purpose is None or f.purpose == purpose]
            if len(found) < wanted:
                break
            after = found[-1].id
        return matched[:wanted]

    async def delete(self, file_id: str) -> FileDeleted:
        await self.store.delete_file(await self.record(file_id))
        return FileDeleted(id=file_id)


class BatchService:
    def __init__(self, store: BatchStore, files: FileService, starter: Starter) -> None:
        self.store = store
        self.files = files
        self.starter = starter

    async def create(self, request: CreateBatch) -> Batch:
        source = await self._input(request)
        now = int(time.time())
        header = BatchRecord(
            id="batch_" + sortable_hex(),
            input_file_id=source.id,
            endpoint=request.endpoint,
            completion_window=request.completion_window,
            metadata=request.metadata,
            created_at=now,
            expires_at=now + WINDOW_S,
            key_id=_caller(),
            total=source.lines or 0,
        )
        await self.store.create(header)
        try:
            arn = await self.starter.start(header.id)
        except Exception as exc:
            await self.store.mark(header.id, "outcome", {"status": "failed", "error": str(exc)})
            raise
        if arn is not None:
            await self.store.mark(header.id, "execution", {"arn": arn})
        return await self.retrieve(header.id)

    async def _input(self, request: CreateBatch) -> FileRecord:
        try:
            source = await self.files.record(request.input_file_id)
        except WorkflowNotFound as exc:
            raise InvalidRequest(exc.message, param="input_file_id") from exc
        if source.purpose != "batch":
            raise InvalidRequest(
                f"file {source.id} has purpose {source.purpose!r}; a batch needs 'batch'",
                param="input_file_id",
            )
        if source.url != request.endpoint:
            raise InvalidRequest(
                f"file {source.id} holds requests to {source.url}, not {request.endpoint}",
                param="endpoint",
            )
        return source

    async def _state(self, batch_id: str) -> BatchState:
        state = await self.store.state(batch_id)
        if state.header.key_id not in (None, _caller()):
            raise WorkflowNotFound(f"No such Batch object: {batch_id}", param="batch_id")
        return state

    async def retrieve(self, batch_id: str) -> Batch:
        return view(await self._state(batch_id))

    async def cancel(self, batch_id: str) -> Batch:
        """Set the cancel flag: chunks start no further line; finalize says cancelled."""
        state = await self._state(batch_id)
        batch = view(state)
        if batch.status in ("cancelling", "cancelled"):
            return batch
        if batch.status in TERMINAL:
            raise WorkflowConflict(
                f"Cannot cancel a batch with status {batch.status!r}", param="batch_id"
            )
        await self.store.mark(batch_id, "cancel", {"cancelling_at": int(time.time())})
        return await self.retrieve(batch_id)

    async def list(self, after: str | None, limit: int) -> BatchList:
        ids = await self.store.batch_ids(_caller(), after, limit + 1)
        page = [view(await self.store.state(i)) for i in ids[:limit]]
        return BatchList(
            data=page,
            first_id=page[0].id if page else None,
            last_id=page[-1].id if page else None,
            has_more=len(ids) > limit,
        )


def view(state: BatchState) -> Batch:
    """The OpenAI batch object of what is stored."""
    header, outcome = state.header, state.outcome or {}
    batch = Batch(
        id=header.id,
        endpoint=header.endpoint,
        input_file_id=header.input_file_id,
        completion_window=header.completion_window,
        status="validating",
        created_at=header.created_at,
        expires_at=header.expires_at,
        metadata=header.metadata,
        request_counts=RequestCounts(
            total=int((state.prepared or {}).get("total", header.total)),
            completed=state.counts.get("completed", 0),
            failed=state.counts.get("failed", 0),
        ),
        usage=usage(state.counts),
    )
    if state.prepared is not None:
        batch.status, batch.in_progress_at = "in_progress", state.prepared.get("in_progress_at")
    if state.finalizing is not None:
        batch.status, batch.finalizing_at = "finalizing", state.finalizing.get("finalizing_at")
    if state.cancel is not None:
        batch.status, batch.cancelling_at = "cancelling", state.cancel.get("cancelling_at")
    if outcome:
        _ended(batch, outcome)
    return batch


def usage(counts: dict[str, int]) -> BatchUsage:
    """OpenAI's ``usage``: tokens summed over the completed lines (the chunks' counters)."""
    return BatchUsage(
        input_tokens=counts.get("input_tokens", 0),
        input_tokens_details=InputTokensDetails(cached_tokens=counts.get("cached_tokens", 0)),
        output_tokens=counts.get("output_tokens", 0),
        output_tokens_details=OutputTokensDetails(
            reasoning_tokens=counts.get("reasoning_tokens", 0)
        ),
        total_tokens=counts.get("total_tokens", 0),
    )


def _ended(batch: Batch, outcome: dict[str, object]) -> None:
    status, at = str(outcome["status"]), outcome.get("at")
    stamp = int(at) if isinstance(at, int | float) else None
    batch.status = status  # type: ignore[assignment]
    batch.output_file_id = outcome.get("output_file_id")  # type: ignore[assignment]
    batch.error_file_id = outcome.get("error_file_id")  # type: ignore[assignment]
    if status == "completed":
        batch.completed_at = stamp
    elif status == "cancelled":
        batch.cancelled_at = stamp
    elif status == "expired":
        batch.expired_at = stamp
    elif status == "failed":
        batch.failed_at = stamp
        message = str(outcome.get("error") or "the batch failed")
        batch.errors = BatchErrors(data=[BatchError(code="batch_failed", message=message)])
