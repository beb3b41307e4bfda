"""A batch through the local runner: prepare, chunks, finalize; counts, files, cancel, failure."""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

import pytest

from orchestra.batch.processor import ChunkProcessor
from orchestra.batch.runner import LocalRunner
from orchestra.batch.service import BatchService, FileService
from orchestra.batch.steps import BatchSteps, chunks_of
from orchestra.batch.store import BatchStore
from orchestra.caller import Principal, set_principal
from orchestra.errors import InvalidRequest, WorkflowConflict, WorkflowNotFound
from orchestra.governance.admission import current_admission
from orchestra.schemas.batch import CreateBatch

from support.workflow_stores import memory_workflow_stores


class Answers:
    """Answers ``echo``; a ``bad`` model is a 404-ish error; records the admission."""

    def __init__(self, gate: asyncio.Event | None = None) -> None:
        self.admissions: list[Any] = []
        self.gate = gate

    async def call(self, url: str, body: dict[str, Any]) -> dict[str, Any]:
        self.admissions.append(current_admission.get(None))
        if self.gate is not None:
            await self.gate.wait()
        if body["model"] == "bad":
            raise InvalidRequest("Unknown model 'bad'", param="model", code="model_not_found")
        return {"echo": body["messages"][0]["content"]}


class Governor:
    def __init__(self) -> None:
        self.admitted: list[str] = []

    async def admit(self, principal: Principal) -> str:
        self.admitted.append(principal.key_id)
        return f"admission-of-{principal.key_id}"


def jsonl(n: int, bad: set[int] = frozenset()) -> bytes:  # type: ignore[assignment]
    rows = []
    for i in range(n):
        body = {
            "model": "bad" if i in bad else "m",
            "messages": [{"role": "user", "content": f"q{i}"}],
        }
        rows.append(
            {"custom_id": f"r{i}", "method": "POST", "url": "/v1/chat/completions", "body": body}
        )
    return b"".join(json.dumps(r).encode() + b"\n" for r in rows)


def build(
    answers: Answers, chunk_lines: int = 4, governor: Any = None
) -> tuple[FileService, BatchService, LocalRunner]:
    records, blobs = memory_workflow_stores()
    store = BatchStore(records, blobs)
    steps = BatchSteps(store, ChunkProcessor(answers, 3, cancel_check_s=0), chunk_lines, governor)
    runner = LocalRunner(steps, concurrency=2)
    files = FileService(store, 1_000_000, 1_000)
    return files, BatchService(store, files, runner), runner


async def finished(batches: BatchService, batch_id: str) -> Any:
    for _ in range(500):
        batch = await batches.retrieve(batch_id)
        if batch.status in ("completed", "failed", "cancelled"):
            return batch
        await asyncio.sleep(0.01)
    raise AssertionError("the batch did not finish")


def test_the_manifest_cuts_chunks_on_line_boundaries():
    data = b'{"a":1}\n\n{"b":2}\n{"c":3}\n'
    manifest = chunks_of(data, 2)
    assert manifest == [
        {"chunk": 0, "start": 0, "end": 17, "first_line": 1, "lines": 2},
        {"chunk": 1, "start": 17, "end": 25, "first_line": 4, "lines": 1},
    ]
    assert [data[c["start"] : c["end"]].count(b"{") for c in manifest] == [2, 1]


async def test_a_batch_completes_with_output_and_error_files_and_counts():
    set_principal(Principal("team-a"))
    answers, governor = Answers(), Governor()
    files, batches, _ = build(answers, governor=governor)
    upload = await files.create(jsonl(10, bad={3, 7}), "in.jsonl", "batch")
    batch = await batches.create(
        CreateBatch(
            input_file_id=upload.id, endpoint="/v1/chat/completions", completion_window="24h"
        )
    )
    assert re.fullmatch(r"batch_[0-9a-f]{24}", batch.id) and re.fullmatch(
        r"file-[0-9a-f]{24}", upload.id
    )
    done = await finished(batches, batch.id)
    assert done.status == "completed" and done.completed_at and done.in_progress_at
    assert done.request_counts.model_dump() == {"total": 10, "completed": 8, "failed": 2}
    output = (await files.content(done.output_file_id)).decode().splitlines()
    errors = (await files.content(done.error_file_id)).decode().splitlines()
    assert [json.loads(x)["custom_id"] for x in output] == [
        f"r{i}" for i in range(10) if i not in (3, 7)
    ]
    assert [json.loads(x)["response"]["status_code"] for x in errors] == [400, 400]
    assert (await files.retrieve(done.output_file_id)).purpose == "batch_output"
    # every chunk's calls were admitted as the batch's creator (3 chunks of 4, 4, 2)
    assert governor.admitted == ["team-a"] * 3
    assert set(answers.admissions) == {"admission-of-team-a"}


async def test_cancel_keeps_what_finished_and_ends_cancelled():
    gate = asyncio.Event()
    files, batches, _ = build(Answers(gate), chunk_lines=2)
    upload = await files.create(jsonl(12), "in.jsonl", "batch")
    batch = await batches.create(
        CreateBatch(
            input_file_id=upload.id, endpoint="/v1/chat/completions", completion_window="24h"
        )
    )
    await asyncio.sleep(0.05)  # two chunks started (concurrency 2), their lines waiting
    cancelling = await batches.cancel(batch.id)
    assert cancelling.status == "cancelling" and cancelling.cancelling_at
    gate.set()
    done = await finished(batches, batch.id)
    assert done.status == "cancelled" and done.cancelled_at
    assert done.request_counts.completed == 4 and done.request_counts.failed == 0
    assert len((await files.content(done.output_file_id)).splitlines()) == 4
    with pytest.raises(WorkflowConflict):
        completed_files, completed, _ = build(Answers())
        up = await completed_files.create(jsonl(1), "x.jsonl", "batch")
        b = await completed.create(
            CreateBatch(
                input_file_id=up.id, endpoint="/v1/chat/completions", completion_window="24h"
            )
        )
        await finished(completed, b.id)
        await completed.cancel(b.id)


async def test_a_chunk_that_raises_becomes_error_lines_not_a_failed_batch():
    class Broken(Answers):
        async def call(self, url: str, body: dict[str, Any]) -> dict[str, Any]:
            raise RuntimeError("boom")

    files, batches, runner = build(Broken(), chunk_lines=3)
    runner.steps.processor.line = _raise  # type: ignore[method-assign]
    upload = await files.create(jsonl(5), "in.jsonl", "batch")
    batch = await batches.create(
        CreateBatch(
            input_file_id=upload.id, endpoint="/v1/chat/completions", completion_window="24h"
        )
    )
    done = await finished(batches, batch.id)
    assert done.status == "completed" and done.output_file_id is None
    assert done.request_counts.model_dump() == {"total": 5, "completed": 0, "failed": 5}
    errors = [json.loads(x) for x in (await files.content(done.error_file_id)).splitlines()]
    assert {e["error"]["code"] for e in errors} == {"batch_chunk_failed"}
    assert errors[0]["response"] is None and "RuntimeError: boom" in errors[0]["error"]["message"]


async def _raise(raw: bytes) -> Any:
    raise RuntimeError("boom")


async def test_a_batch_whose_file_vanished_fails_with_the_reason():
    files, batches, _ = build(Answers())
    upload = await files.create(jsonl(2), "in.jsonl", "batch")
    await files.store.blobs.delete([f"files/{upload.id}.jsonl"])
    batch = await batches.create(
        CreateBatch(
            input_file_id=upload.id, endpoint="/v1/chat/completions", completion_window="24h"
        )
    )
    done = await finished(batches, batch.id)
    assert done.status == "failed" and done.failed_at and done.errors.data[0].code == "batch_failed"


async def test_create_refuses_a_missing_file_or_another_endpoint_and_lists_newest_first():
    set_principal(Principal("team-b"))
    files, batches, _ = build(Answers())
    with pytest.raises(InvalidRequest) as missing:
        await batches.create(
            CreateBatch(
                input_file_id="file-nope", endpoint="/v1/chat/completions", completion_window="24h"
            )
        )
    assert missing.value.param == "input_file_id"
    upload = await files.create(jsonl(1), "in.jsonl", "batch")
    with pytest.raises(InvalidRequest) as other:
        await batches.create(
            CreateBatch(input_file_id=upload.id, endpoint="/v1/embeddings", completion_window="24h")
        )
    assert other.value.param == "endpoint"
    set_principal(Principal("someone-else"))
    with pytest.raises(WorkflowNotFound):
        await files.retrieve(upload.id)
    set_principal(Principal("team-b"))
    made = [
        await batches.create(
            CreateBatch(
                input_file_id=upload.id, endpoint="/v1/chat/completions", completion_window="24h"
            )
        )
        for _ in range(3)
    ]
    for b in made:
        await finished(batches, b.id)
    first = await batches.list(None, 2)
    assert first.has_more and len(first.data) == 2
    rest = await batches.list(first.last_id, 2)
    assert not rest.has_more
    assert {b.id for b in first.data + rest.data} == {b.id for b in made}
