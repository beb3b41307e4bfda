"""Large file downloads through the official ``openai`` SDK: a file over
``files_inline_bytes`` is answered with a 302 to the blob store's link (deployed: a
presigned S3 URL), which the SDK follows without sending our Authorization header there.

The blob store here links to a small HTTP server on 127.0.0.1 at another port (another
origin, as S3 is to the API), which records the headers it gets."""

from __future__ import annotations

import asyncio
import io
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import openai
import pytest

from orchestra.api.app import create_app
from orchestra.compose import build_services
from orchestra.compose.core import memory_stores
from orchestra.config import Settings
from orchestra.storage.blobs import MemoryBlobStore
from orchestra.storage.memory import MemoryRecordBackend

from support.server import serve_in_thread

KEY = "orch-download-key-123"
INLINE = 2_000


class BlobServer(ThreadingHTTPServer):
    """Serves a store's objects at ``/<key>``; keeps each request's headers."""

    def __init__(self, store: MemoryBlobStore) -> None:
        super().__init__(("127.0.0.1", 0), _BlobHandler)
        self.store = store
        self.seen: list[dict[str, str]] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _BlobHandler(BaseHTTPRequestHandler):
    server: BlobServer

    def do_GET(self) -> None:
        self.server.seen.append({k.lower(): v for k, v in self.headers.items()})
        key = self.path.lstrip("/").split("?")[0]
        try:
            data = asyncio.run(self.server.store.get(key))
        except KeyError:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/jsonl")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        return


class LinkingBlobStore(MemoryBlobStore):
    """Memory, but handing out links to the blob server, as S3 hands out presigned URLs."""

    def __init__(self) -> None:
        super().__init__()
        self.base = ""
        self.links: list[tuple[str, int]] = []

    async def link(self, key: str, expires_s: int) -> str | None:
        self.links.append((key, expires_s))
        return f"{self.base}/{key}?X-Amz-Expires={expires_s}"


@pytest.fixture(scope="module")
def blobs() -> LinkingBlobStore:
    return LinkingBlobStore()


@pytest.fixture(scope="module")
def blob_server(blobs: LinkingBlobStore) -> Iterator[BlobServer]:
    server = BlobServer(blobs)
    blobs.base = server.url
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def api(blobs: LinkingBlobStore, blob_server: BlobServer) -> Iterator[str]:
    stores = memory_stores()
    stores.records, stores.blobs = MemoryRecordBackend(), blobs
    settings = Settings(api_keys=KEY, simulator_latency_scale=0.0, files_inline_bytes=INLINE)
    with serve_in_thread(create_app(build_services(settings, {}, stores=stores))) as url:
        yield url


@pytest.fixture
def client(api: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{api}/v1", api_key=KEY, max_retries=0)


def batch_file(lines: int) -> bytes:
    body = {"model": "sim-small", "messages": [{"role": "user", "content": "hi"}]}
    row = {"method": "POST", "url": "/v1/chat/completions", "body": body}
    return "".join(json.dumps({"custom_id": f"r{i}", **row}) + "\n" for i in range(lines)).encode()


def upload(client: openai.OpenAI, data: bytes) -> str:
    return client.files.create(file=("in.jsonl", io.BytesIO(data)), purpose="batch").id


def test_a_file_over_the_inline_size_comes_from_the_blob_store_without_our_key(
    client: openai.OpenAI, blobs: LinkingBlobStore, blob_server: BlobServer
) -> None:
    # Given a file larger than files_inline_bytes
    data = batch_file(40)
    assert len(data) > INLINE
    file_id = upload(client, data)
    blob_server.seen.clear()
    # When the SDK downloads it
    got = client.files.content(file_id).content
    # Then every byte arrives, fetched from the blob server (one GET, a 5-minute link),
    # which never saw our Authorization header
    assert got == data
    assert blobs.links[-1] == (f"files/{file_id}.jsonl", 300)
    assert len(blob_server.seen) == 1
    assert "authorization" not in blob_server.seen[0]
    assert blob_server.seen[0]["accept"] == "application/binary"  # the SDK's other headers do


def test_a_batch_output_over_the_inline_size_downloads_through_the_link(
    client: openai.OpenAI, blob_server: BlobServer
) -> None:
    # Given a finished batch whose output file is larger than files_inline_bytes
    batch = client.batches.create(
        input_file_id=upload(client, batch_file(12)),
        endpoint="/v1/chat/completions",
        completion_window="24h",
    )
    deadline = time.monotonic() + 20
    while batch.status not in ("completed", "failed") and time.monotonic() < deadline:
        time.sleep(0.05)
        batch = client.batches.retrieve(batch.id)
    assert batch.status == "completed" and batch.output_file_id
    assert client.files.retrieve(batch.output_file_id).bytes > INLINE
    blob_server.seen.clear()
    # When the SDK downloads it, Then it comes whole from the blob server
    text = client.files.content(batch.output_file_id).text
    ids = sorted(json.loads(line)["custom_id"] for line in text.splitlines())
    assert ids == sorted(f"r{i}" for i in range(12))
    assert len(blob_server.seen) == 1 and "authorization" not in blob_server.seen[0]


def test_a_small_file_is_answered_inline(
    client: openai.OpenAI, blob_server: BlobServer, blobs: LinkingBlobStore
) -> None:
    data = batch_file(3)
    assert len(data) <= INLINE
    file_id = upload(client, data)
    blob_server.seen.clear()
    links = len(blobs.links)
    assert client.files.content(file_id).content == data
    assert blob_server.seen == [] and len(blobs.links) == links


def test_the_redirect_is_a_302_with_location_and_no_store(
    client: openai.OpenAI, api: str, blob_server: BlobServer
) -> None:
    file_id = upload(client, batch_file(40))
    headers = {"Authorization": f"Bearer {KEY}"}
    response = httpx.get(f"{api}/v1/files/{file_id}/content", headers=headers)
    assert response.status_code == 302 and response.content == b""
    assert response.headers["location"].startswith(f"{blob_server.url}/files/{file_id}.jsonl?")
    assert response.headers["cache-control"] == "no-store"


def test_an_unknown_file_is_not_found_before_any_link(
    api: str, client: openai.OpenAI, blobs: LinkingBlobStore
) -> None:
    links = len(blobs.links)
    response = httpx.get(
        f"{api}/v1/files/file-nope/content", headers={"Authorization": f"Bearer {KEY}"}
    )
    assert response.status_code == 404 and response.json()["error"]["param"] == "file_id"
    assert len(blobs.links) == links
