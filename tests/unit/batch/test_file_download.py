"""``FileService.download``: the bytes, or a link when the file is over ``inline_bytes``
and the blob store gives one (S3); memory always answers with the bytes."""

from __future__ import annotations

import json

import pytest

from orchestra.batch.service import LINK_EXPIRES_S, FileService, response_body_bytes
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
    return b"".join(
        json.dumps({"custom_id": f"r{i}", **row}).encode() + b"\n" for i in range(lines)
    )


def service(blobs: MemoryBlobStore, inline_bytes: int) -> FileService:
    set_principal(Principal("team-a"))
    return FileService(BatchStore(MemoryRecordBackend(), blobs), 1_000_000, 1_000, inline_bytes)


async def store_raw(files: FileService, body: bytes) -> str:
    """A file stored as a batch output would be (no line check)."""
    from orchestra.batch.files import FileRecord

    record = FileRecord(
        id="file-raw",
        bytes=len(body),
        created_at=1,
        filename="o.jsonl",
        purpose="batch_output",
        key_id="team-a",
        blob="batches/b/output.jsonl",
    )
    await files.store.add_file(record, body)
    return record.id


async def test_over_the_inline_size_a_linking_store_gives_a_link() -> None:
    files = service(Linking(), inline_bytes=100)
    created = await files.create(data(5), "in.jsonl", "batch")
    found = await files.download(created.id)
    assert found == f"https://bucket.example/files/{created.id}.jsonl?expires={LINK_EXPIRES_S}"


async def test_at_the_inline_size_escaped_the_bytes_are_answered() -> None:
    body = data(5)
    files = service(Linking(), inline_bytes=response_body_bytes(body))
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


async def test_under_the_size_but_over_it_escaped_a_linking_store_still_gives_a_link() -> None:
    # Given a file whose bytes fit but whose escaped body (quotes, non-ASCII) would not
    body = (json.dumps({"custom_id": "é" * 40, "q": '"' * 40}, ensure_ascii=False) + "\n").encode()
    files = service(Linking(), inline_bytes=len(body) + 1)
    record = await store_raw(files, body)
    # Then it is linked, not answered inline
    assert str(await files.download(record)).startswith("https://bucket.example/")


def test_the_response_body_size_is_the_json_string_or_base64() -> None:
    assert response_body_bytes(b'{"a":1}\n') == len('"{\\"a\\":1}\\n"')
    assert response_body_bytes("é".encode()) == len('"\\u00e9"')
    assert response_body_bytes(b"\xff\xfe\xfd") == 4
