"""A batch end to end on the real state machine: moto executes the INLINE definition from
``orchestra.batch.machine``, each Lambda task dispatched in-process to the real
``functions/batch_steps`` handler; the input, manifest, parts and output files are in moto
S3 (``S3BlobStore``), the records in a moto DynamoDB workflows table
(``DynamoDBRecordBackend``); model calls go to an OpenAI-compatible upstream on 127.0.0.1.
The local runner, given the same file, writes the same output and error lines.
"""

from __future__ import annotations

import asyncio
import functools
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from orchestra.batch.machine import render
from orchestra.compose.batches import batch_service, file_service
from orchestra.compose.core import build_core, memory_stores
from orchestra.compose.roots import build_services
from orchestra.config import Settings
from orchestra.schemas.batch import CreateBatch

from support.lambda_api import TABLES, deployed
from support.stepfunctions import (
    MOTO,
    completion,
    local_settings,
    machine_on_steps,
    providers_file,
)
from support.upstream import FakeUpstream, Reply, running_in_thread
from support.workflow_stores import memory_workflow_stores

KEY = "sk-batch-upstream-1a2b3c4d5e6f"
BUCKET = "orch-files"


def reply(seen: dict[str, Any]) -> Reply:
    """Echoes the prompt; a prompt ``fail`` is an upstream 400."""
    body = seen["body"]
    prompt = body["messages"][-1]["content"]
    if prompt == "fail":
        return Reply.json(
            {"error": {"message": "bad prompt", "type": "invalid_request_error"}}, status=400
        )
    return completion("echo " + prompt, body["model"], 5, 2)


def _providers(tmp_path: Path, base_url: str) -> Path:
    return providers_file(tmp_path, base_url, ["m-a"])


def jsonl(prompts: list[str]) -> bytes:
    rows = [
        {"custom_id": f"r{i}", "method": "POST", "url": "/v1/chat/completions",
         "body": {"model": "m-a", "messages": [{"role": "user", "content": p}]}}
        for i, p in enumerate(prompts)
    ]  # fmt: skip
    return b"".join(json.dumps(r).encode() + b"\n" for r in rows)


PROMPTS = [f"q{i}" for i in range(11)] + ["fail"]


@pytest.fixture
def upstream() -> Iterator[FakeUpstream]:
    with running_in_thread(FakeUpstream(responder=reply)) as fake:
        yield fake


@pytest.fixture
def cloud(
    tmp_path: Path, upstream: FakeUpstream, monkeypatch: pytest.MonkeyPatch
) -> Iterator[dict[str, Any]]:
    config = _providers(tmp_path, upstream.base_url)
    tables = {**TABLES, "workflows": "orch-workflows"}
    with deployed(monkeypatch, config, {"UP_KEY": KEY}, moto_config=MOTO, tables=tables):
        boto3.client("s3", region_name="us-east-1").create_bucket(Bucket=BUCKET)
        monkeypatch.setenv("ORCHESTRA_WORKFLOWS_TABLE", "orch-workflows")
        monkeypatch.setenv("ORCHESTRA_FILES_BUCKET", BUCKET)
        monkeypatch.setenv("ORCHESTRA_BATCH_CHUNK_LINES", "5")
        definition = functools.partial(render, bucket=BUCKET, distributed=False)
        with machine_on_steps(monkeypatch, "batch_steps", "batch", definition) as machine:
            monkeypatch.setenv("ORCHESTRA_BATCH_STATE_MACHINE_ARN", machine.arn)
            yield {"events": machine.events}


def _lines(data: bytes) -> list[tuple[str, int | None, Any]]:
    """Each line without its random ids: (custom_id, status, body or error)."""
    found = []
    for raw in data.splitlines():
        line = json.loads(raw)
        response = line["response"] or {}
        found.append(
            (line["custom_id"], response.get("status_code"), response.get("body") or line["error"])
        )
    return found


def _in_cloud() -> tuple[dict[str, Any], list[Any], list[Any]]:
    async def run() -> tuple[dict[str, Any], list[Any], list[Any]]:
        core = build_core(Settings(), {})
        files = file_service(core)
        batches = batch_service(core, files, lambda: None)  # type: ignore[arg-type,return-value]
        upload = await files.create(jsonl(PROMPTS), "in.jsonl", "batch")
        request = CreateBatch(
            input_file_id=upload.id, endpoint="/v1/chat/completions", completion_window="24h"
        )
        batch = await batches.create(request)
        # waited for through Step Functions, then read: moto's DynamoDB is not thread-safe,
        # and reading the table while the execution's thread writes it can race inside moto
        sfn = boto3.client("stepfunctions")
        arn = sfn.list_executions(stateMachineArn=Settings().batch_state_machine_arn)["executions"][
            0
        ]["executionArn"]
        deadline = time.monotonic() + 120
        while sfn.describe_execution(executionArn=arn)["status"] == "RUNNING":
            assert time.monotonic() < deadline, "the execution did not finish"
            await asyncio.sleep(0.05)
        batch = await batches.retrieve(batch.id)
        assert batch.status == "completed", batch
        output = _lines(await files.content(batch.output_file_id))
        errors = _lines(await files.content(batch.error_file_id))
        return batch.model_dump(), output, errors

    return asyncio.run(run())


def _locally(tmp_path: Path, upstream: FakeUpstream) -> tuple[dict[str, Any], list[Any], list[Any]]:
    settings = local_settings(_providers(tmp_path, upstream.base_url), batch_chunk_lines=5)

    async def run() -> tuple[dict[str, Any], list[Any], list[Any]]:
        stores = memory_stores()
        stores.records, stores.blobs = memory_workflow_stores()
        services = build_services(settings, {"UP_KEY": KEY}, stores=stores)
        assert services.files is not None and services.batches is not None
        upload = await services.files.create(jsonl(PROMPTS), "in.jsonl", "batch")
        request = CreateBatch(
            input_file_id=upload.id, endpoint="/v1/chat/completions", completion_window="24h"
        )
        batch = await services.batches.create(request)
        runner = services.batches.starter
        while runner._running:  # type: ignore[attr-defined]
            await asyncio.wait(set(runner._running))  # type: ignore[attr-defined]
        batch = await services.batches.retrieve(batch.id)
        output = _lines(await services.files.content(batch.output_file_id))
        errors = _lines(await services.files.content(batch.error_file_id))
        await services.aclose()
        return batch.model_dump(), output, errors

    return asyncio.run(run())


def test_the_inline_machine_under_moto_writes_what_the_local_runner_writes(
    cloud: dict[str, Any], upstream: FakeUpstream, tmp_path: Path
) -> None:
    batch, output, errors = _in_cloud()
    assert batch["request_counts"] == {"total": 12, "completed": 11, "failed": 1}
    assert [o[0] for o in output] == [f"r{i}" for i in range(11)]
    assert output[0][1] == 200 and output[0][2]["choices"][0]["message"]["content"] == "echo q0"
    assert [(e[0], e[1]) for e in errors] == [("r11", 400)]
    steps = [e["step"] for e in cloud["events"]]
    assert steps[0] == "prepare" and steps[-1] == "finalize" and steps.count("chunk") == 3
    assert max(len(json.dumps(e)) for e in cloud["events"]) < 400  # references only
    keys = [o["Key"] for o in boto3.client("s3").list_objects_v2(Bucket=BUCKET)["Contents"]]
    assert (
        f"batches/{batch['id']}/manifest.jsonl" in keys
        and f"batches/{batch['id']}/output.jsonl" in keys
    )
    assert not [k for k in keys if "/parts/" in k]  # finalize removed the parts
    local, local_output, local_errors = _locally(tmp_path, upstream)
    assert local["request_counts"] == batch["request_counts"]
    assert (local_output, local_errors) == (output, errors)
