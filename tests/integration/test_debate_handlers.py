"""The debate functions with their sample events, under moto (AWS mode, debates table).

``functions/debate_steps`` runs every step's sample event in the order the state machine
would, against a stored debate; ``functions/debate_api`` answers its sample events (start,
idempotent start, a bad request, status, health) and starts executions of a real state
machine (moto, not executed here: ``test_debate_machine`` executes it).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from orchestra.debate.machine import render
from orchestra.debate.store import DebateStore
from orchestra.schemas.chat import ChatMessage
from orchestra.schemas.debate import Debate
from orchestra.storage.dynamodb import DynamoDBDebateBackend

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
from support.stepfunctions import simulated_aws

DEBATE_ID = "dbt_0123456789abcdef0123456789"
STEP_ORDER = ["init", "turn", "converge", "synthesize", "finalize", "fail"]


@pytest.fixture(autouse=True)
def _close_apps() -> Iterator[None]:
    yield
    close_apps()


@pytest.fixture
def aws(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    with simulated_aws(tmp_path, monkeypatch, ALL_TABLES) as dynamodb:
        yield dynamodb


async def _store_debate() -> None:
    store = DebateStore(DynamoDBDebateBackend(ALL_TABLES["debates"]))
    debate = Debate(
        id=DEBATE_ID,
        question=[ChatMessage(role="user", content="What is 17 * 23?")],
        participants=["simulator/sim-large", "simulator/sim-small"],
        judge="simulator/sim-long",
        max_rounds=2,
        threshold=0.8,
        turn_timeout_s=10,
        max_tokens=256,
        created_at=time.time(),
    )
    await store.create(debate)


def test_every_step_sample_event_runs_in_order(aws: Any) -> None:
    import asyncio

    asyncio.run(_store_debate())
    names = sorted(p.stem for p in (ROOT / "events" / "debate_steps").glob("*.json"))
    assert names == sorted(STEP_ORDER)
    steps = import_handler("debate_steps", "debate_steps_sample")
    results = {}
    try:
        for name in STEP_ORDER:
            event = sample_event("debate_steps", f"{name}.json")
            results[name] = steps.handler(event, Context("debate_steps"))
            if name == "turn":  # the sample is one participant's turn: the other's too
                other = {**event, "participant": "simulator/sim-small"}
                steps.handler(other, Context("debate_steps"))
    finally:
        steps.function.close()
    assert results["init"]["participants"] == ["simulator/sim-large", "simulator/sim-small"]
    assert results["turn"] == {"ok": True}
    assert results["converge"]["agreement"] == 1.0 and results["converge"]["stop"] is True
    assert results["synthesize"] == {"ok": True}
    assert results["finalize"] == {"status": "SUCCEEDED"} and results["fail"] == {
        "status": "FAILED"
    }
    for result in results.values():
        assert len(json.dumps(result)) < 300  # references and figures, never transcripts


def test_a_step_for_a_missing_debate_raises_for_the_state_machine(aws: Any) -> None:
    from orchestra.errors import DebateNotFound

    steps = import_handler("debate_steps", "debate_steps_sample")
    try:
        with pytest.raises(DebateNotFound):
            steps.handler(sample_event("debate_steps", "init.json"), Context("debate_steps"))
    finally:
        steps.function.close()


@pytest.fixture
def machine(aws: Any, monkeypatch: pytest.MonkeyPatch) -> str:
    role = "arn:aws:iam::123456789012:role/steps"
    arn = boto3.client("stepfunctions").create_state_machine(
        name="debate", definition=render("arn:aws:lambda:us-east-1:123456789012:function:x"),
        roleArn=role, type="STANDARD",
    )["stateMachineArn"]  # fmt: skip
    monkeypatch.setenv("ORCHESTRA_DEBATE_STATE_MACHINE_ARN", arn)
    return arn


EXPECTED = {
    "rest_v1_start_debate.json": 202,
    "rest_v1_start_debate_idempotent.json": 202,
    "rest_v1_start_debate_one_participant.json": 400,
    "http_v2_get_debate.json": 404,
    "http_v2_health.json": 200,
}


def test_every_api_sample_event_has_an_expectation() -> None:
    assert sorted(p.name for p in (ROOT / "events" / "debate_api").glob("*.json")) == sorted(
        EXPECTED
    )


@pytest.mark.parametrize(("name", "status"), sorted(EXPECTED.items()))
def test_debate_api_answers_each_sample_event(machine: str, name: str, status: int) -> None:
    response = load_handler("debate_api").handler(
        sample_event("debate_api", name), Context("debate_api")
    )
    body = json.loads(body_of(response))
    assert response["statusCode"] == status, body
    if status >= 400:
        assert set(body["error"]) == {"message", "type", "param", "code"}
    if status == 202:
        assert body["status"] == "RUNNING" and body["execution_arn"].endswith(body["id"])
        assert response["headers"]["location"] == body["status_url"]


def test_an_idempotent_start_is_one_debate_and_one_execution(machine: str) -> None:
    handler = load_handler("debate_api").handler
    event = sample_event("debate_api", "rest_v1_start_debate_idempotent.json")
    ids = {json.loads(body_of(handler(event, Context("debate_api"))))["id"] for _ in range(3)}
    assert len(ids) == 1
    executions = boto3.client("stepfunctions").list_executions(stateMachineArn=machine)
    assert [e["name"] for e in executions["executions"]] == list(ids)


def test_status_of_a_started_debate(machine: str) -> None:
    handler = load_handler("debate_api").handler
    started = json.loads(
        body_of(
            handler(sample_event("debate_api", "rest_v1_start_debate.json"), Context("debate_api"))
        )
    )
    event = sample_event("debate_api", "http_v2_get_debate.json")
    path = f"/v1/debates/{started['id']}"
    event["rawPath"] = event["requestContext"]["http"]["path"] = path
    response = handler(event, Context("debate_api"))
    view = json.loads(body_of(response))
    assert response["statusCode"] == 200 and view["id"] == started["id"]
    assert view["execution_arn"] == started["execution_arn"]
    assert view["console_url"].startswith("https://us-east-1.console.aws.amazon.com/states/")
    assert len(view["participants"]) == 3


def test_debate_api_needs_no_metrics_table(machine: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # as deployed: the debate API calls no model, so CDK gives it no metrics table
    monkeypatch.delenv("ORCHESTRA_METRICS_TABLE")
    event = sample_event("debate_api", "rest_v1_start_debate.json")
    response = load_handler("debate_api").handler(event, Context("debate_api"))
    assert response["statusCode"] == 202, body_of(response)


def test_a_failed_start_is_retried_by_the_same_idempotency_key(
    machine: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from orchestra.errors import DebateUnavailable
    from orchestra.storage.stepfunctions import StepFunctionsStarter

    original = StepFunctionsStarter.start
    calls = {"n": 0}

    async def flaky(self: StepFunctionsStarter, debate_id: str) -> str | None:
        calls["n"] += 1
        if calls["n"] == 1:
            raise DebateUnavailable("could not start the debate: ThrottlingException")
        return await original(self, debate_id)

    monkeypatch.setattr(StepFunctionsStarter, "start", flaky)
    handler = load_handler("debate_api").handler
    event = sample_event("debate_api", "rest_v1_start_debate_idempotent.json")
    first = handler(event, Context("debate_api"))
    assert first["statusCode"] == 503  # stored, not started: nothing is lost
    again = json.loads(body_of(handler(event, Context("debate_api"))))
    assert again["execution_arn"].endswith(again["id"])
    executions = boto3.client("stepfunctions").list_executions(stateMachineArn=machine)
    assert [e["name"] for e in executions["executions"]] == [again["id"]]
