"""The workflows functions with their sample events, under moto (AWS mode, the workflows
table, the files bucket, the chain and batch state machines created but not executed here:
``test_chain_machine`` and ``test_batch_machine`` execute them).

``functions/workflows_api`` answers every sample event (chains, files, batches, health) and
starts executions named after the run or batch id; ``functions/chain_steps`` runs its sample
events in the order the state machine would, against a stored run.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from orchestra.chain.document import parse_chain
from orchestra.chain.machine import render as chain_machine
from orchestra.chain.store import ChainStore, RunHeader
from orchestra.storage.workflows import DynamoDBRecordBackend

from support.lambda_api import (
    ALL_TABLES,
    ROOT,
    Context,
    body_of,
    close_apps,
    import_handler,
    load_handler,
    sample_event,
)
from support.stepfunctions import ROLE, simulated_aws

TABLE, BUCKET = "orch-workflows", "orch-files"
LAMBDA = "arn:aws:lambda:us-east-1:123456789012:function:x"
RUN_ID = "chrun_" + "0" * 26  # the chain_steps sample events' run


@pytest.fixture(autouse=True)
def _close_apps() -> Iterator[None]:
    yield
    close_apps()


@pytest.fixture
def aws(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    tables = {**ALL_TABLES, "workflows": TABLE}
    with simulated_aws(tmp_path, monkeypatch, tables):
        boto3.client("s3", region_name="us-east-1").create_bucket(Bucket=BUCKET)
        monkeypatch.setenv("ORCHESTRA_WORKFLOWS_TABLE", TABLE)
        monkeypatch.setenv("ORCHESTRA_FILES_BUCKET", BUCKET)
        sfn = boto3.client("stepfunctions")
        machines = {}
        for kind in ("chain", "batch"):
            machines[kind] = sfn.create_state_machine(
                name=kind, definition=chain_machine(LAMBDA), roleArn=ROLE, type="STANDARD"
            )["stateMachineArn"]
            monkeypatch.setenv(f"ORCHESTRA_{kind.upper()}_STATE_MACHINE_ARN", machines[kind])
        yield machines


EXPECTED = {
    "rest_v1_put_chain.json": 200,
    "rest_v1_start_chain_run.json": 202,  # after the PUT (it runs the chain stored there)
    "http_v2_get_chain_run.json": 404,  # a run that was never started
    "rest_v1_upload_file.json": 200,
    "rest_v1_create_batch.json": 400,  # its input file was never uploaded (param input_file_id)
    "http_v2_get_batch.json": 404,
}


def _call(name: str, **changes: Any) -> tuple[int, dict[str, Any], dict[str, Any]]:
    """The workflows function's answer to the sample event ``name``: status, body, headers.
    ``path``: another path (a real id); ``body``: another JSON body."""
    event = sample_event("workflows_api", name)
    if "path" in changes:
        if "rawPath" in event:
            event["rawPath"] = event["requestContext"]["http"]["path"] = changes["path"]
        else:
            event["path"] = changes["path"]
    if "body" in changes:
        event["body"], event["isBase64Encoded"] = json.dumps(changes["body"]), False
    response = load_handler("workflows_api").handler(event, Context("workflows_api"))
    headers = {k.lower(): v for k, v in (response.get("headers") or {}).items()}
    return response["statusCode"], json.loads(body_of(response)), headers


def _executions(machine: str) -> list[dict[str, Any]]:
    sfn = boto3.client("stepfunctions")
    found = sfn.list_executions(stateMachineArn=machine)["executions"]
    return [sfn.describe_execution(executionArn=e["executionArn"]) for e in found]


def test_every_workflows_sample_event_has_an_expectation() -> None:
    names = sorted(p.name for p in (ROOT / "events" / "workflows_api").glob("*.json"))
    assert names == sorted(EXPECTED)


@pytest.mark.parametrize(("name", "status"), list(EXPECTED.items()))
def test_workflows_api_answers_each_sample_event(
    aws: dict[str, str], name: str, status: int
) -> None:
    if name == "rest_v1_start_chain_run.json":
        assert _call("rest_v1_put_chain.json")[0] == 200
    code, body, _ = _call(name)
    assert code == status, body
    if status >= 400:  # OpenAI's error shape, never a 500
        assert set(body["error"]) == {"message", "type", "param", "code"}


def test_a_chain_is_stored_started_on_step_functions_and_followed(aws: dict[str, str]) -> None:
    # Given the sample chain PUT (YAML)
    code, saved, _ = _call("rest_v1_put_chain.json")
    assert code == 200 and (saved["name"], saved["version"], saved["steps"]) == ("brief", 1, 3)
    # When a run is started, twice with the same Idempotency-Key
    code, started, headers = _call("rest_v1_start_chain_run.json")
    assert code == 202 and headers["location"] == started["status_url"]
    assert started["execution_arn"].endswith(":" + started["id"])
    # Then one execution named after the run, its input the run id only
    [execution] = _executions(aws["chain"])
    assert execution["name"] == started["id"]
    assert json.loads(execution["input"]) == {"run_id": started["id"]}
    # And the status URL shows the run (running: moto does not execute the machine here)
    code, view, _ = _call("http_v2_get_chain_run.json", path=started["status_url"])
    assert code == 200 and view["status"] == "running" and view["chain"] == "brief"
    assert view["inputs"] == {"topic": "tides"} and view["estimate_usd"] > 0
    assert view["console_url"].startswith("https://us-east-1.console.aws.amazon.com/states/")


def test_a_file_and_its_batch_start_one_execution_named_after_the_batch(
    aws: dict[str, str],
) -> None:
    # Given the sample file uploaded (multipart, one chat line)
    code, uploaded, _ = _call("rest_v1_upload_file.json")
    assert code == 200 and uploaded["purpose"] == "batch" and uploaded["object"] == "file"
    # When a batch of it is created
    request = {**_body("rest_v1_create_batch.json"), "input_file_id": uploaded["id"]}
    code, batch, _ = _call("rest_v1_create_batch.json", body=request)
    assert code == 200, batch
    assert batch["object"] == "batch" and batch["metadata"] == {"job": "nightly"}
    # Then one execution, named after the batch, its input the batch id only
    [execution] = _executions(aws["batch"])
    assert execution["name"] == batch["id"]
    assert json.loads(execution["input"]) == {"batch_id": batch["id"]}
    code, again, _ = _call("http_v2_get_batch.json", path=f"/v1/batches/{batch['id']}")
    assert code == 200 and again["id"] == batch["id"]


def _body(name: str) -> dict[str, Any]:
    event = sample_event("workflows_api", name)
    raw = event["body"]
    text = base64.b64decode(raw).decode() if event.get("isBase64Encoded") else raw
    found: dict[str, Any] = json.loads(text)
    return found


# chain_steps

STEP_ORDER = ["next", "run", "run_item", "join", "finish", "fail"]
CHAIN = {
    "steps": [
        {"id": "outline", "kind": "generate", "model": "sim-small", "prompt": "Outline tides"},
        {"id": "expand", "kind": "map", "over": "steps.outline.output",
         "step": {"kind": "generate", "model": "sim-small", "prompt": "Expand {{ item }}"}},
    ],
    "outputs": {"all": "{{ steps.expand.output }}"},
}  # fmt: skip


async def _store_run() -> ChainStore:
    store = ChainStore(DynamoDBRecordBackend(TABLE))
    chain = parse_chain(CHAIN)
    await store.create(RunHeader(id=RUN_ID, chain=chain.document(), created_at=1.0))
    return store


def test_every_chain_step_sample_event_runs_in_order(aws: dict[str, str]) -> None:
    store = asyncio.run(_store_run())
    names = sorted(p.stem for p in (ROOT / "events" / "chain_steps").glob("*.json"))
    assert names == sorted(STEP_ORDER)
    steps = import_handler("chain_steps", "chain_steps_sample")
    results: dict[str, Any] = {}
    try:
        for name in STEP_ORDER:
            event = sample_event("chain_steps", f"{name}.json")
            if name == "join":  # every item of the map first, as the Map state does
                ahead = {**event, "step": "next", "cursor": "steps[0]"}
                fan = steps.handler(ahead, Context("chain_steps"))
                for item in fan["items"][1:]:
                    steps.handler({**event, "step": "run", "item": item}, Context("chain_steps"))
            results[name] = steps.handler(event, Context("chain_steps"))
    finally:
        steps.function.close()
    assert results["next"] == {"run_id": RUN_ID, "cursor": "steps[0]", "kind": "single",
                               "items": []}  # fmt: skip
    assert results["run"] == results["run_item"] == results["join"] == {"ok": True}
    assert results["finish"] == {"status": "succeeded"} and results["fail"] == {"status": "failed"}
    for result in results.values():
        assert len(json.dumps(result)) < 300  # references, never outputs
    run = asyncio.run(store.load(RUN_ID))
    assert run.steps["steps[0]"].model == "simulator/sim-small"
    assert isinstance(run.steps["steps[1]"].output, list) and run.steps["steps[1]"].output
    # the sample fail event (last) recorded the Lambda's error as one line
    assert run.outcome is not None and run.outcome.error == "steps[0] (outline): upstream down"


def test_a_chain_step_for_a_missing_run_raises_for_the_state_machine(aws: dict[str, str]) -> None:
    from orchestra.errors import WorkflowNotFound

    steps = import_handler("chain_steps", "chain_steps_missing")
    try:
        with pytest.raises(WorkflowNotFound):
            steps.handler(sample_event("chain_steps", "next.json"), Context("chain_steps"))
    finally:
        steps.function.close()
