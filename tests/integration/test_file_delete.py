"""``DELETE /v1/files/{id}`` deletes the bytes before the records: when the object store
refuses (S3 AccessDenied, an outage) the file is still there, and the DELETE can be
retried; nothing is left that no record points to."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator, Sequence

import pytest
from fastapi.testclient import TestClient

from orchestra.api.app import create_app
from orchestra.compose import build_services
from orchestra.compose.core import memory_stores
from orchestra.config import Settings
from orchestra.errors import StorageError
from orchestra.storage.blobs import MemoryBlobStore
from orchestra.storage.memory import MemoryRecordBackend

LINE = {"custom_id": "a", "method": "POST", "url": "/v1/chat/completions",
        "body": {"model": "sim-small", "messages": [{"role": "user", "content": "hi"}]}}  # fmt: skip


class RefusingBlobs(MemoryBlobStore):
    """Memory blobs whose deletes fail while ``refuse`` is set (as S3's quiet-mode Errors)."""

    refuse = False

    async def delete(self, keys: Sequence[str]) -> None:
        if self.refuse:
            raise StorageError("S3 delete_objects on files refused 1 of 1 keys: AccessDenied")
        await super().delete(keys)


@pytest.fixture
def app() -> Iterator[tuple[TestClient, RefusingBlobs]]:
    stores = memory_stores()
    blobs = RefusingBlobs()
    stores.records, stores.blobs = MemoryRecordBackend(), blobs
    settings = Settings(simulator=True, simulator_latency_scale=0.0)
    with TestClient(create_app(build_services(settings, {}, stores=stores))) as client:
        yield client, blobs


def upload(client: TestClient) -> str:
    data = io.BytesIO((json.dumps(LINE) + "\n").encode())
    answer = client.post("/v1/files", files={"file": ("in.jsonl", data)}, data={"purpose": "batch"})
    assert answer.status_code == 200, answer.text
    return str(answer.json()["id"])


def test_a_refused_delete_keeps_the_file_and_a_retry_deletes_it(app) -> None:
    client, blobs = app
    file_id = upload(client)
    # Given an object store that refuses deletes
    blobs.refuse = True
    # When the file is deleted
    refused = client.delete(f"/v1/files/{file_id}")
    # Then the error is OpenAI's shape, and the file, its listing and its bytes remain
    assert refused.status_code == 503, refused.text
    assert set(refused.json()["error"]) >= {"message", "type", "code"}
    assert client.get(f"/v1/files/{file_id}").status_code == 200
    assert [f["id"] for f in client.get("/v1/files").json()["data"]] == [file_id]
    assert client.get(f"/v1/files/{file_id}/content").status_code == 200
    # And once the store accepts again, the retry deletes everything
    blobs.refuse = False
    deleted = client.delete(f"/v1/files/{file_id}")
    assert deleted.json() == {"id": file_id, "object": "file", "deleted": True}
    assert client.get(f"/v1/files/{file_id}").status_code == 404
    assert client.get("/v1/files").json()["data"] == []
    assert not any(key.startswith("files/") for key in blobs._objects)
