"""The debate state machine definition, executed by moto's Step Functions interpreter.

The Lambda tasks go to a scripted steps function (the real steps land with the debate
feature): this proves the definition itself (the Map per round, the Choice loop, the
Catch that records a failure) runs as written, with references-only payloads.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.awslambda_simple.models import LambdaSimpleBackend

from orchestra.debate.machine import render

Step = Callable[[dict[str, Any]], dict[str, Any]]
ROLE = "arn:aws:iam::123456789012:role/steps"


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(var, "testing")
    config = {"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}}
    with mock_aws(config=config):  # type: ignore[arg-type]
        yield


def _run(
    monkeypatch: pytest.MonkeyPatch, step: Step, payload: dict[str, Any]
) -> tuple[str, list[dict[str, Any]]]:
    calls: list[dict[str, Any]] = []

    def invoke(
        self: Any, name: str, qualifier: Any, body: Any, headers: Any, response_headers: Any
    ) -> bytes:
        event = json.loads(body)
        calls.append(event)
        try:
            return json.dumps(step(event)).encode()
        except Exception as exc:  # as Lambda reports an unhandled error to Step Functions
            response_headers["x-amz-function-error"] = "Unhandled"
            return json.dumps({"errorType": type(exc).__name__, "errorMessage": str(exc)}).encode()

    monkeypatch.setattr(LambdaSimpleBackend, "invoke", invoke)
    iam = boto3.client("iam")
    iam.create_role(RoleName="steps", AssumeRolePolicyDocument="{}")
    fn = boto3.client("lambda").create_function(
        FunctionName="debate-steps",
        Runtime="python3.13",
        Role=ROLE,
        Handler="functions.debate_steps.handler.handler",
        Code={"ZipFile": b"unused"},
    )["FunctionArn"]
    sfn = boto3.client("stepfunctions")
    machine = sfn.create_state_machine(
        name="debate", definition=render(fn), roleArn=ROLE, type="STANDARD"
    )["stateMachineArn"]
    execution = sfn.start_execution(
        stateMachineArn=machine, name="dbt_1", input=json.dumps(payload)
    )["executionArn"]
    for _ in range(200):
        status = sfn.describe_execution(executionArn=execution)["status"]
        if status != "RUNNING":
            return status, calls
        time.sleep(0.05)
    raise AssertionError("execution did not finish")


DEBATE = {"debate_id": "dbt_1", "participants": ["m-a", "m-b", "m-c"], "round": 1, "max_rounds": 4}


def test_rounds_loop_until_the_models_converge_then_synthesize(
    aws: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    def step(event: dict[str, Any]) -> dict[str, Any]:
        if event["step"] == "converge":
            return {"stop": event["round"] >= 2, "agreement": 0.4 * event["round"]}
        return {"ok": True}

    status, calls = _run(monkeypatch, step, DEBATE)
    assert status == "SUCCEEDED"
    turns = [(c["round"], c["participant"]) for c in calls if c["step"] == "turn"]
    assert sorted(turns) == [(r, m) for r in (1, 2) for m in ("m-a", "m-b", "m-c")]
    assert [c["round"] for c in calls if c["step"] == "converge"] == [1, 2]
    assert [c["step"] for c in calls][-1] == "synthesize"
    for call in calls:  # references only: never a transcript in the payload
        assert call["debate_id"] == "dbt_1" and len(json.dumps(call)) < 300


def test_a_failing_step_is_recorded_and_fails_the_execution(
    aws: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    def step(event: dict[str, Any]) -> dict[str, Any]:
        if event["step"] == "converge":
            raise RuntimeError("judge unavailable")
        return {"ok": True}

    status, calls = _run(monkeypatch, step, DEBATE)
    assert status == "FAILED"
    steps = [c["step"] for c in calls]
    assert steps.count("turn") == 3 and "synthesize" not in steps
    # the Catch passed the error to the recording step, by reference to the debate
    (recorded,) = [c for c in calls if c["step"] == "fail"]
    assert recorded["debate_id"] == "dbt_1"
    assert "judge unavailable" in json.dumps(recorded["error"])


def test_the_round_limit_is_the_steps_decision_not_a_hidden_loop(
    aws: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    def step(event: dict[str, Any]) -> dict[str, Any]:
        if event["step"] == "converge":  # never converges: stops at max_rounds
            return {"stop": event["round"] >= event["max_rounds"], "agreement": 0.1}
        return {}

    status, calls = _run(monkeypatch, step, {**DEBATE, "participants": ["m-a"]})
    assert status == "SUCCEEDED"
    assert [c["round"] for c in calls if c["step"] == "turn"] == [1, 2, 3, 4]
