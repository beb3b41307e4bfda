"""The OpenAI Files and Batch APIs through the official ``openai`` SDK against a real local
server (the app ``orchestra serve`` runs, on 127.0.0.1) answering with the simulator: upload,
create, poll, download and parse the output; a bad model's error line; cancel; list."""

from __future__ import annotations

import io
import json
import time
from collections.abc import Iterator

import openai
import pytest

from orchestra.api.app import create_app
from orchestra.compose import build_services
from orchestra.compose.core import memory_stores
from orchestra.config import Settings

from support.server import serve_in_thread
from support.workflow_stores import memory_workflow_stores

KEY = "orch-batch-key-123"


@pytest.fixture(scope="module")
def client() -> Iterator[openai.OpenAI]:
    stores = memory_stores()
    stores.records, stores.blobs = memory_workflow_stores()
    settings = Settings(api_keys=KEY, simulator_latency_scale=0.0, batch_chunk_lines=3)
    app = create_app(build_services(settings, {}, stores=stores))
    with serve_in_thread(app) as url:
        yield openai.OpenAI(base_url=f"{url}/v1", api_key=KEY, max_retries=0)


def chat_line(custom_id: str, model: str, prompt: str) -> dict[str, object]:
    body = {"model": model, "messages": [{"role": "user", "content": prompt}], "max_tokens": 20}
    return {"custom_id": custom_id, "method": "POST", "url": "/v1/chat/completions", "body": body}


def upload(client: openai.OpenAI, lines: list[dict[str, object]]) -> str:
    data = "".join(json.dumps(x) + "\n" for x in lines).encode()
    return client.files.create(file=("requests.jsonl", io.BytesIO(data)), purpose="batch").id


def wait(client: openai.OpenAI, batch_id: str) -> openai.types.Batch:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        batch = client.batches.retrieve(batch_id)
        if batch.status in ("completed", "failed", "cancelled", "expired"):
            return batch
        time.sleep(0.05)
    raise AssertionError(f"batch {batch_id} did not finish")


def test_round_trip_with_an_error_line_for_a_bad_model(client):
    lines = [chat_line(f"q{i}", "sim-small", f"say {i}") for i in range(7)]
    lines.append(chat_line("bad", "no-such-model", "hello"))
    file_id = upload(client, lines)
    found = client.files.retrieve(file_id)
    assert (found.object, found.purpose, found.filename, found.status) == (
        "file",
        "batch",
        "requests.jsonl",
        "processed",
    )
    batch = client.batches.create(
        input_file_id=file_id,
        endpoint="/v1/chat/completions",
        completion_window="24h",
        metadata={"job": "nightly"},
    )
    assert batch.id.startswith("batch_") and batch.object == "batch"
    assert batch.metadata == {"job": "nightly"} and batch.request_counts.total == 8
    done = wait(client, batch.id)
    assert done.status == "completed" and done.completed_at >= done.created_at
    assert (
        done.request_counts.total,
        done.request_counts.completed,
        done.request_counts.failed,
    ) == (8, 7, 1)
    output = [json.loads(x) for x in client.files.content(done.output_file_id).text.splitlines()]
    assert [o["custom_id"] for o in output] == [f"q{i}" for i in range(7)]
    first = output[0]
    assert first["error"] is None and first["response"]["status_code"] == 200
    body = first["response"]["body"]
    assert body["object"] == "chat.completion" and body["choices"][0]["message"]["content"]
    (error,) = [json.loads(x) for x in client.files.content(done.error_file_id).text.splitlines()]
    assert error["custom_id"] == "bad" and error["response"]["status_code"] in (400, 404)
    assert "no-such-model" in error["response"]["body"]["error"]["message"]
    assert client.files.retrieve(done.output_file_id).purpose == "batch_output"


def test_a_bad_line_is_a_400_naming_it(client):
    data = (json.dumps(chat_line("a", "sim-small", "x")) + "\n{oops\n").encode()
    with pytest.raises(openai.BadRequestError) as raised:
        client.files.create(file=("bad.jsonl", io.BytesIO(data)), purpose="batch")
    assert raised.value.body["message"] == "line 2: not valid JSON"
    assert raised.value.body["param"] == "file"


def test_unknown_ids_are_404s_in_openais_shape(client):
    with pytest.raises(openai.NotFoundError) as raised:
        client.batches.retrieve("batch_" + "0" * 24)
    assert raised.value.body["code"] == "not_found"
    with pytest.raises(openai.NotFoundError):
        client.files.retrieve("file-" + "0" * 24)
    with pytest.raises(openai.BadRequestError) as missing:
        client.batches.create(
            input_file_id="file-nope", endpoint="/v1/chat/completions", completion_window="24h"
        )
    assert missing.value.body["param"] == "input_file_id"


@pytest.fixture(scope="module")
def slow() -> Iterator[openai.OpenAI]:
    """Simulated models taking their usual time: 2 chunks of 3 lines in flight at once."""
    stores = memory_stores()
    stores.records, stores.blobs = memory_workflow_stores()
    settings = Settings(api_keys=KEY, batch_chunk_lines=3, batch_concurrency=2)
    app = create_app(build_services(settings, {}, stores=stores))
    with serve_in_thread(app) as url:
        yield openai.OpenAI(base_url=f"{url}/v1", api_key=KEY, max_retries=0)


def create(client: openai.OpenAI, file_id: str) -> openai.types.Batch:
    return client.batches.create(
        input_file_id=file_id, endpoint="/v1/chat/completions", completion_window="24h"
    )


def test_cancel_keeps_the_lines_that_finished(slow):
    batch = create(slow, upload(slow, [chat_line(f"c{i}", "sim-small", "hi") for i in range(30)]))
    while slow.batches.retrieve(batch.id).request_counts.completed == 0:  # a chunk finished
        time.sleep(0.01)
    cancelling = slow.batches.cancel(batch.id)
    assert cancelling.status == "cancelling" and cancelling.cancelling_at
    done = wait(slow, batch.id)
    assert done.status == "cancelled" and done.cancelled_at
    kept = done.request_counts.completed
    assert 0 < kept < 30 and done.request_counts.failed == 0
    assert len(slow.files.content(done.output_file_id).text.splitlines()) == kept
    finished = wait(slow, create(slow, upload(slow, [chat_line("x", "sim-small", "hi")])).id)
    with pytest.raises(openai.ConflictError):
        slow.batches.cancel(finished.id)


def test_list_pages(client):
    file_id = upload(client, [chat_line("l", "sim-small", "hi")])
    batch = create(client, file_id)
    wait(client, batch.id)
    listed = client.batches.list(limit=100)
    assert batch.id in [b.id for b in listed.data]
    page = client.batches.list(limit=1)
    assert len(page.data) == 1 and page.has_more
    assert page.data[0].id == batch.id  # newest first
    assert file_id in [f.id for f in client.files.list().data]


def test_listing_files_by_purpose_reads_past_newer_output_files(client):
    # Given a finished batch: its output file is newer than its input file
    file_id = upload(client, [chat_line("p", "sim-small", "hi")])
    wait(client, create(client, file_id).id)
    # When the newest batch-purpose file is asked for
    page = client.files.list(purpose="batch", limit=1)
    # Then it is the input file, not an empty page that says there is more
    assert [f.id for f in page.data] == [file_id]
    assert all(f.purpose == "batch" for f in page.data)


def test_usage_and_the_output_files_retention_parse_in_the_sdk(client):
    file_id = upload(
        client, [chat_line("u1", "sim-small", "hi"), chat_line("u2", "sim-small", "yo")]
    )
    done = wait(client, create(client, file_id).id)
    assert done.status == "completed" and done.usage is not None
    assert done.usage.input_tokens > 0 and done.usage.output_tokens > 0
    assert done.usage.total_tokens == done.usage.input_tokens + done.usage.output_tokens
    output = client.files.retrieve(done.output_file_id)
    assert output.expires_at is not None and output.expires_at > output.created_at


def test_an_empty_file_and_a_zero_limit_are_400s_naming_their_field(client):
    with pytest.raises(openai.BadRequestError) as empty:
        client.files.create(file=("empty.jsonl", io.BytesIO(b"\n")), purpose="batch")
    assert empty.value.code == "invalid_file" and empty.value.param == "file"
    for listing in (client.batches.list, client.files.list):
        with pytest.raises(openai.BadRequestError) as zero:
            listing(limit=0)
        assert zero.value.param == "limit"


def test_files_are_listed_newest_first_and_asc_is_refused_not_ignored(client):
    # Given two files uploaded one after the other
    first = upload(client, [chat_line("a", "sim-small", "hi")])
    second = upload(client, [chat_line("b", "sim-small", "hi")])
    # When they are listed in the order served, then newest first
    listed = [f.id for f in client.files.list(order="desc")]
    assert listed.index(second) < listed.index(first)
    # And an order that is not served is a 400 naming it, never a page in the wrong order
    with pytest.raises(openai.BadRequestError) as asc:
        client.files.list(order="asc")
    assert asc.value.param == "order"
