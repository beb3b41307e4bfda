"""Chains end to end: the generic state machine, executed by moto, running the real handler.

The run is stored in the workflows table (DynamoDB under moto) and started as a Standard
execution of ``orchestra.chain.machine``'s definition; moto's Step Functions interpreter
runs it, and every Lambda task is dispatched in-process to ``functions/chain_steps``, whose
model calls go to an OpenAI-compatible upstream on 127.0.0.1. The same chain through the
local runner must write the same transcript.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from orchestra.catalog.models import Catalog
from orchestra.catalog.source import CatalogSource
from orchestra.chain.machine import render
from orchestra.chain.service import ChainService
from orchestra.chain.store import ChainStore
from orchestra.compose import build_services
from orchestra.errors import WorkflowUnavailable
from orchestra.schemas.chain import InlineChainRunRequest
from orchestra.storage.stepfunctions import StepFunctionsStarter
from orchestra.storage.workflows import DynamoDBRecordBackend

from support.lambda_api import ALL_TABLES, close_apps, deployed
from support.stepfunctions import (
    MOTO,
    completion,
    local_settings,
    machine_on_steps,
    providers_file,
)
from support.upstream import FakeUpstream, Reply, running_in_thread

KEY = "sk-chain-upstream-1a2b3c4d5e6f"
TABLE = "orch-workflows"

CHAIN: dict[str, Any] = {
    "name": "brief",
    "inputs": {"topic": {"type": "string"}},
    "steps": [
        {"id": "outline", "kind": "generate", "model": "m-a", "prompt": "Outline {{ inputs.topic }}"},
        {"id": "drafts", "kind": "parallel", "combine": {"template": "{{ steps.a.output }} | {{ steps.b.output }}"},
         "branches": [{"id": "a", "kind": "generate", "model": "m-a", "prompt": "Draft A of {{ steps.outline.output }}"},
                      {"id": "b", "kind": "generate", "model": "m-b", "prompt": "Draft B of {{ steps.outline.output }}"}]},
        {"id": "check", "kind": "condition", "value": "{{ steps.outline.output }}", "when": {"contains": "moon"},
         "then": [{"id": "lunar", "kind": "generate", "model": "m-b", "prompt": "Lunar note"}],
         "else": [{"id": "plain", "kind": "generate", "model": "m-b", "prompt": "Plain note"}]},
        {"id": "expand", "kind": "map", "over": "steps.outline.output", "concurrency": 2,
         "step": {"kind": "generate", "model": "m-a", "prompt": "Expand {{ item }}"}},
    ],
    "outputs": {"drafts": "{{ steps.drafts.output }}", "expanded": "{{ steps.expand.output }}"},
}  # fmt: skip


def _completion(text: str, model: str) -> Reply:
    return completion(text, model, 20, 8)


def responder(seen: dict[str, Any]) -> Reply:
    body = seen["body"]
    prompt = body["messages"][-1]["content"]
    if prompt.startswith("Outline"):
        return _completion("moon\ntides\nsea", body["model"])
    if "FAILME" in prompt:
        return Reply.json({"error": {"message": "upstream down"}}, status=500)
    return _completion(f"[{body['model']}] {prompt.splitlines()[0]}", body["model"])


def _providers(tmp_path: Path, base_url: str) -> Path:
    return providers_file(tmp_path, base_url, ["m-a", "m-b"])


@pytest.fixture(autouse=True)
def _close_apps() -> Iterator[None]:
    yield
    close_apps()


@pytest.fixture
def upstream() -> Iterator[FakeUpstream]:
    with running_in_thread(FakeUpstream(responder=responder)) as fake:
        yield fake


@pytest.fixture
def cloud(
    tmp_path: Path, upstream: FakeUpstream, monkeypatch: pytest.MonkeyPatch
) -> Iterator[dict[str, Any]]:
    """The workflows table, the state machine (the core definition) and the steps function,
    whose invocations run the real handler in-process."""
    config = _providers(tmp_path, upstream.base_url)
    tables = {**ALL_TABLES, "workflows": TABLE}
    with (
        deployed(monkeypatch, config, {"UP_KEY": KEY}, moto_config=MOTO, tables=tables),
        machine_on_steps(monkeypatch, "chain_steps", "chain", render) as machine,
    ):
        monkeypatch.setenv("ORCHESTRA_WORKFLOWS_TABLE", TABLE)
        starter = StepFunctionsStarter(
            machine.arn, input_key="run_id", error=WorkflowUnavailable, what="chain run"
        )
        store = ChainStore(DynamoDBRecordBackend(TABLE))
        service = ChainService(store, CatalogSource(base=Catalog([])), starter)
        yield {"events": machine.events, "service": service, "machine": machine.arn}


def _run_in_cloud(service: ChainService, chain: dict[str, Any], **inputs: Any) -> dict[str, Any]:
    async def start() -> str:
        run = await service.start_inline(InlineChainRunRequest(chain=chain, inputs=inputs))
        return run.header.id

    run_id = asyncio.run(start())
    # waited for through Step Functions, then read: moto's DynamoDB is not thread-safe, and
    # reading the table while the execution's thread writes it can race inside moto
    sfn = boto3.client("stepfunctions")
    starter = service.starter
    assert isinstance(starter, StepFunctionsStarter)
    arn = starter.execution_arn(run_id)
    deadline = time.monotonic() + 120
    while sfn.describe_execution(executionArn=arn)["status"] == "RUNNING":
        assert time.monotonic() < deadline, "the execution did not finish"
        time.sleep(0.05)
    return asyncio.run(service.view(run_id)).model_dump(exclude_none=True)


def _run_locally(
    tmp_path: Path, upstream: FakeUpstream, chain: dict[str, Any], **inputs: Any
) -> dict[str, Any]:
    settings = local_settings(_providers(tmp_path, upstream.base_url))

    async def run() -> dict[str, Any]:
        services = build_services(settings, {"UP_KEY": KEY})
        started = await services.chains.start_inline(
            InlineChainRunRequest(chain=chain, inputs=inputs)
        )
        runner = services.chains.starter
        while runner._running:
            await asyncio.wait(set(runner._running))
        view = await services.chains.view(started.header.id)
        await services.aclose()
        return view.model_dump(exclude_none=True)

    return asyncio.run(run())


def _transcript(view: dict[str, Any]) -> Any:
    steps = [(s["path"], s.get("id"), s["status"], s.get("input"), s.get("output"), s.get("model"),
              s.get("branch")) for s in view["steps"]]  # fmt: skip
    return view["status"], steps, view.get("outputs"), view.get("error")


def test_every_kind_runs_on_step_functions_as_it_does_locally(
    cloud: dict[str, Any], upstream: FakeUpstream, tmp_path: Path
) -> None:
    view = _run_in_cloud(cloud["service"], CHAIN, topic="tides")
    assert view["status"] == "succeeded", view.get("error")
    paths = [s["path"] for s in view["steps"]]
    assert paths == [
        "steps[0]", "steps[1]", "steps[1].branches[0]", "steps[1].branches[1]",
        "steps[2]", "steps[2].then[0]",
        "steps[3]", "steps[3].items[0]", "steps[3].items[1]", "steps[3].items[2]",
    ]  # fmt: skip
    assert view["outputs"] == {
        "drafts": "[m-a] Draft A of moon | [m-b] Draft B of moon",
        "expanded": ["[m-a] Expand moon", "[m-a] Expand tides", "[m-a] Expand sea"],
    }
    assert view["usage"]["total_tokens"] == 7 * 28  # outline, 2 branches, 1 nested, 3 items
    assert view["execution_arn"].endswith(view["id"]) and "states/home" in view["console_url"]
    kinds = [e["step"] for e in cloud["events"]]
    assert kinds[0] == "next" and kinds[-1] == "finish" and kinds.count("join") == 2
    assert max(len(json.dumps(e)) for e in cloud["events"]) < 300  # references only
    assert _transcript(_run_locally(tmp_path, upstream, CHAIN, topic="tides")) == _transcript(view)


def test_a_failing_step_fails_the_execution_and_the_run_says_where(
    cloud: dict[str, Any], upstream: FakeUpstream, tmp_path: Path
) -> None:
    chain = {"steps": [{"id": "one", "kind": "generate", "model": "m-a", "prompt": "FAILME"},
                       {"id": "two", "kind": "generate", "model": "m-a", "prompt": "never"}]}  # fmt: skip
    view = _run_in_cloud(cloud["service"], chain)
    assert view["status"] == "failed"
    assert "steps[0] (one)" in view["error"]
    assert [s["path"] for s in view["steps"]] == ["steps[0]"]
    assert [e["step"] for e in cloud["events"]][-1] == "fail"
    assert _transcript(_run_locally(tmp_path, upstream, chain)) == _transcript(view)
