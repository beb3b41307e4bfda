"""Debates end to end: the real state machine, executed by moto, running the real handlers.

``POST /v1/debates`` goes to ``functions/debate_api`` (AWS mode under moto), which stores the
debate in DynamoDB and starts a Standard execution of the definition from
``orchestra.debate.machine``; moto's Step Functions interpreter runs it, and every Lambda
task is dispatched in-process to ``functions/debate_steps``, whose model calls go to an
OpenAI-compatible upstream on 127.0.0.1 answering by participant and prompt. ``GET
/v1/debates/{id}`` reads the transcript back. The same scenarios through the local runner
must write the same transcript.
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

from orchestra.compose import build_services
from orchestra.config import Settings
from orchestra.debate.machine import render
from orchestra.schemas.debate import DebateRequest

from support.lambda_api import (
    ALL_TABLES,
    Context,
    body_of,
    close_apps,
    deployed,
    load_handler,
    sample_event,
)
from support.stepfunctions import (
    MOTO,
    completion,
    local_settings,
    machine_on_steps,
    providers_file,
)
from support.upstream import FakeUpstream, Reply, running_in_thread

KEY = "sk-debate-upstream-7a6b5c4d3e2f"
#: what each model says: its first answer, its revision, or an HTTP status to fail with
Script = dict[str, dict[str, str | int]]

CONVERGES_IN_ROUND_2: Script = {
    "m-a": {"answer": "The answer is 42.", "revise": "CHANGED: no - we agree.\n42"},
    "m-b": {"answer": "42", "revise": "CHANGED: no - still right.\nThe answer is 42."},
    "m-c": {"answer": "It is 41.", "revise": "CHANGED: yes - 6 x 7 is 42.\nThe answer is 42."},
}
NEVER_CONVERGES: Script = {
    "m-a": {"answer": "1", "revise": "CHANGED: no - sure.\n1"},
    "m-b": {"answer": "2", "revise": "CHANGED: no - sure.\n2"},
    "m-c": {"answer": "3", "revise": "CHANGED: no - sure.\n3"},
}
ONE_FAILS: Script = {
    "m-a": {"answer": "42", "revise": "CHANGED: no - agreed.\n42"},
    "m-b": {"answer": "41", "revise": "CHANGED: yes - m-a is right.\n42"},
    "m-c": {"answer": 500, "revise": 500},
}


def _completion(text: str, model: str) -> Reply:
    return completion(text, model, 50, 10)


def responder(script: Script) -> Any:
    def reply(seen: dict[str, Any]) -> Reply:
        body = seen["body"]
        model = body["model"]
        prompt = body["messages"][-1]["content"]
        if model == "judge":
            return _completion("The answer is 42.\nRationale: the participants agree.", model)
        what = script[model]["revise" if "<your_answer>" in prompt else "answer"]
        if isinstance(what, int):
            return Reply.json({"error": {"message": "upstream down"}}, status=what)
        return _completion(what, model)

    return reply


def _providers(tmp_path: Path, base_url: str) -> Path:
    judge = {"id": "judge", "context_window": 32000, "input_price": 1e-6, "output_price": 2e-6,
             "quality": 1450, "capabilities": []}  # fmt: skip
    return providers_file(tmp_path, base_url, ["m-a", "m-b", "m-c", "m-d", "m-e"], [judge])


@pytest.fixture(autouse=True)
def _close_apps() -> Iterator[None]:
    yield
    close_apps()


@pytest.fixture
def upstream() -> Iterator[FakeUpstream]:
    with running_in_thread(FakeUpstream()) as fake:
        yield fake


@pytest.fixture
def cloud(
    tmp_path: Path, upstream: FakeUpstream, monkeypatch: pytest.MonkeyPatch
) -> Iterator[dict[str, Any]]:
    """Tables, secrets, the state machine (from the core definition) and the steps function,
    whose invocations run the real handler in-process."""
    config = _providers(tmp_path, upstream.base_url)
    with (
        deployed(monkeypatch, config, {"UP_KEY": KEY}, moto_config=MOTO, tables=ALL_TABLES),
        machine_on_steps(monkeypatch, "debate_steps", "debate", render) as machine,
    ):
        monkeypatch.setenv("ORCHESTRA_DEBATE_STATE_MACHINE_ARN", machine.arn)
        yield {"events": machine.events, "steps": machine.steps, "config": config}


def _api(
    method: str, body: dict[str, Any] | None = None, debate_id: str = "", **headers: str
) -> tuple[int, dict[str, Any]]:
    name = "rest_v1_start_debate.json" if method == "POST" else "http_v2_get_debate.json"
    event = sample_event("debate_api", name)
    if method == "POST":
        event["body"] = json.dumps(body)
        event["headers"].update(headers)
    else:
        path = f"/v1/debates/{debate_id}"
        event["rawPath"] = event["requestContext"]["http"]["path"] = path
        event["pathParameters"] = {"debate_id": debate_id}
    response = load_handler("debate_api").handler(event, Context("debate_api"))
    return response["statusCode"], json.loads(body_of(response))


def _run_in_cloud(upstream: FakeUpstream, script: Script, **request: Any) -> dict[str, Any]:
    upstream.responder = responder(script)
    body = {"question": "What is 6 times 7?", "participants": ["m-a", "m-b", "m-c"], **request}
    status, started = _api("POST", body)
    assert status == 202, started
    # waited for through Step Functions, then read once: moto's DynamoDB is not thread-safe,
    # and a GET polling the table while the execution's thread writes it can race inside moto
    _wait_for(started["execution_arn"])
    status, view = _api("GET", debate_id=started["id"])
    assert status == 200, view
    return view


def _transcript(view: dict[str, Any]) -> Any:
    rounds = [
        (r["round"], r.get("agreement"),
         [(t["participant"], t.get("answer"), t.get("changed"), t.get("error")) for t in r["turns"]])
        for r in view["rounds"]
    ]  # fmt: skip
    return view["status"], rounds, view.get("final_answer"), view.get("converged")


def _run_locally(
    tmp_path: Path, upstream: FakeUpstream, script: Script, **request: Any
) -> dict[str, Any]:
    upstream.responder = responder(script)
    settings = local_settings(_providers(tmp_path, upstream.base_url))

    async def run() -> dict[str, Any]:
        services = build_services(settings, {"UP_KEY": KEY})
        body = {"question": "What is 6 times 7?", "participants": ["m-a", "m-b", "m-c"], **request}
        debate = await services.debates.start(DebateRequest.model_validate(body))
        runner = services.debates.starter
        while runner._running:
            await asyncio.wait(set(runner._running))
        view = await services.debates.view(debate.id)
        await services.aclose()
        return view.model_dump(exclude_none=True)

    return asyncio.run(run())


def test_converges_in_round_2_then_synthesises(
    cloud: dict[str, Any], upstream: FakeUpstream, tmp_path: Path
) -> None:
    view = _run_in_cloud(upstream, CONVERGES_IN_ROUND_2, max_rounds=4)
    assert view["status"] == "SUCCEEDED" and view["converged"] is True, view.get("error")
    assert [r["round"] for r in view["rounds"]] == [1, 2]
    assert [r["agreement"] for r in view["rounds"]] == [pytest.approx(2 / 3, abs=1e-3), 1.0]
    m_c = next(t for t in view["rounds"][1]["turns"] if t["participant"] == "up/m-c")
    assert m_c["changed"] is True and m_c["why"] == "6 x 7 is 42."
    assert view["final_answer"].startswith("The answer is 42.") and view["judge"] == "up/judge"
    assert view["execution_arn"].endswith(view["id"]) and "states/home" in view["console_url"]
    assert view["usage"]["total_tokens"] == 7 * 60  # six turns and the synthesis
    steps = [e["step"] for e in cloud["events"]]
    assert steps[0] == "init" and steps[-2:] == ["synthesize", "finalize"]
    assert steps.count("turn") == 6 and steps.count("converge") == 2
    for event in cloud["events"]:  # references only
        assert len(json.dumps(event)) < 300
    assert _transcript(
        _run_locally(tmp_path, upstream, CONVERGES_IN_ROUND_2, max_rounds=4)
    ) == _transcript(view)


def test_stops_at_max_rounds_without_converging(
    cloud: dict[str, Any], upstream: FakeUpstream, tmp_path: Path
) -> None:
    view = _run_in_cloud(upstream, NEVER_CONVERGES, max_rounds=3)
    assert view["status"] == "SUCCEEDED" and view["converged"] is False
    assert [r["round"] for r in view["rounds"]] == [1, 2, 3]
    assert all(r["agreement"] == pytest.approx(1 / 3, abs=1e-3) for r in view["rounds"])
    assert _transcript(
        _run_locally(tmp_path, upstream, NEVER_CONVERGES, max_rounds=3)
    ) == _transcript(view)


def test_a_failing_participant_is_dropped_and_the_debate_goes_on(
    cloud: dict[str, Any], upstream: FakeUpstream, tmp_path: Path
) -> None:
    view = _run_in_cloud(upstream, ONE_FAILS, max_rounds=3)
    assert view["status"] == "SUCCEEDED"
    first = {t["participant"]: t for t in view["rounds"][0]["turns"]}
    assert "ServerError" in first["up/m-c"]["error"] and "answer" not in first["up/m-c"]
    second = {t["participant"] for t in view["rounds"][1]["turns"]}
    assert second == {"up/m-a", "up/m-b"}  # m-c was not asked again
    assert view["rounds"][1]["agreement"] == 1.0
    assert _transcript(_run_locally(tmp_path, upstream, ONE_FAILS, max_rounds=3)) == _transcript(
        view
    )


def test_fewer_than_two_participants_left_fails_the_debate_with_its_cause(
    cloud: dict[str, Any], upstream: FakeUpstream, tmp_path: Path
) -> None:
    script: Script = {**ONE_FAILS, "m-b": {"answer": 503, "revise": 503}}
    view = _run_in_cloud(upstream, script)
    assert view["status"] == "FAILED"
    assert "1 participant(s) answered; a debate needs two" in view["error"]
    assert [e["step"] for e in cloud["events"]][-1] == "fail"
    assert _transcript(_run_locally(tmp_path, upstream, script)) == _transcript(view)


def test_an_idempotency_key_returns_the_same_debate(
    cloud: dict[str, Any], upstream: FakeUpstream
) -> None:
    upstream.responder = responder(CONVERGES_IN_ROUND_2)
    body = {"question": "What is 6 times 7?", "participants": ["m-a", "m-b"]}
    first_status, first = _api("POST", body, **{"Idempotency-Key": "req-123"})
    again_status, again = _api("POST", body, **{"Idempotency-Key": "req-123"})
    assert first_status == again_status == 202 and first["id"] == again["id"]
    other, error = _api("POST", {**body, "question": "Other?"}, **{"Idempotency-Key": "req-123"})
    assert other == 409 and error["error"]["code"] == "idempotency_key_reused"
    assert error["error"]["param"] == "Idempotency-Key"
    executions = boto3.client("stepfunctions").list_executions(
        stateMachineArn=Settings().debate_state_machine_arn
    )["executions"]
    assert [e["name"] for e in executions] == [first["id"]]
    _wait_for(executions[0]["executionArn"])


def _wait_for(execution_arn: str) -> None:
    """Let the execution end inside the moto context (it runs on moto's own thread)."""
    sfn = boto3.client("stepfunctions")
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if sfn.describe_execution(executionArn=execution_arn)["status"] != "RUNNING":
            return
        time.sleep(0.02)
    raise AssertionError("the execution did not finish")


def _long_answer(model: str) -> str:
    """About 8 KB, and unlike every other participant's (so they never converge)."""
    return " ".join(f"{model}-point-{i}" for i in range(600))[:8192] + "\nFinal answer: " + model


def test_ten_rounds_of_five_8kb_answers_keep_the_payload_tiny(
    cloud: dict[str, Any], upstream: FakeUpstream
) -> None:
    names = ["m-a", "m-b", "m-c", "m-d", "m-e"]
    script: Script = {
        m: {"answer": _long_answer(m), "revise": "CHANGED: no - unconvinced.\n" + _long_answer(m)}
        for m in names
    }
    view = _run_in_cloud(upstream, script, participants=names, max_rounds=10, threshold=0.9)
    assert view["status"] == "SUCCEEDED" and len(view["rounds"]) == 10
    assert sum(len(t["answer"]) for r in view["rounds"] for t in r["turns"]) > 10 * 5 * 8000
    # the transcript (over 400 KB) is in DynamoDB; what Step Functions carries stays tiny
    largest = max(len(json.dumps(e)) for e in cloud["events"])
    assert largest < 1_024, largest
    sfn = boto3.client("stepfunctions")
    history = sfn.get_execution_history(executionArn=view["execution_arn"], maxResults=1000)
    sizes = [
        len(details.get("input") or details.get("output") or "")
        for event in history["events"]
        for key, details in event.items()
        if key.endswith("EventDetails") and isinstance(details, dict)
    ]
    assert sizes and max(sizes) < 4_096 < 256 * 1024, max(sizes)
