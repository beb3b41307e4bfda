"""``FileService.download``: the bytes, or a link when the file is over ``inline_bytes``
and the blob store gives one (S3); memory always answers with the bytes."""

from __future__ import annotations

import json

import pytest

from orchestra.batch.service import LINK_EXPIRES_S, FileService
from orchestra.batch.store import BatchStore
from orchestra.caller import Principal, set_principal
from orchestra.errors import WorkflowNotFound
from orchestra.storage.blobs import MemoryBlobStore
from orchestra.storage.memory import MemoryRecordBackend


class Linking(MemoryBlobStore):
    async def link(self, key: str, expires_s: int) -> str | None:
        return f"https://bucket.example/{key}?expires={expires_s}"


def data(lines: int) -> bytes:
    body = {"model": "sim-small", "messages": [{"role": "user", "content": "hi"}]}
    row = {"method": "POST", "url": "/v1/chat/completions", "body": body}
    return b"".join(json.dumps({"custom_id": f"r{i}", **row}).encode() + b"\n" for i in range(lines))


def service(blobs: MemoryBlobStore, inline_bytes: int) -> FileService:
    set_principal(Principal("team-a"))
    return FileService(BatchStore(MemoryRecordBackend(), blobs), 1_000_000, 1_000, inline_bytes)


async def test_over_the_inline_size_a_linking_store_gives_a_link() -> None:
    files = service(Linking(), inline_bytes=100)
    created = await files.create(data(5), "in.jsonl", "batch")
    found = await files.download(created.id)
    assert found == f"https://bucket.example/files/{created.id}.jsonl?expires={LINK_EXPIRES_S}"


async def test_at_the_inline_size_the_bytes_are_answered() -> None:
    body = data(5)
    files = service(Linking(), inline_bytes=len(body))
    created = await files.create(body, "in.jsonl", "batch")
    assert await files.download(created.id) == body


async def test_memory_answers_the_bytes_whatever_the_size() -> None:
    body = data(50)
    files = service(MemoryBlobStore(), inline_bytes=0)
    created = await files.create(body, "in.jsonl", "batch")
    assert await files.download(created.id) == body


async def test_another_keys_file_gets_no_link() -> None:
    files = service(Linking(), inline_bytes=0)
    created = await files.create(data(2), "in.jsonl", "batch")
    set_principal(Principal("team-b"))
    with pytest.raises(WorkflowNotFound):
        await files.download(created.id)
