"""Starting and reading Step Functions executions, against a stand-in client."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from orchestra.errors import DebateUnavailable
from orchestra.storage.stepfunctions import StepFunctionsStarter

MACHINE = "arn:aws:states:us-east-1:123456789012:stateMachine:debates"
DEBATE = "dbt_" + "d" * 26


class Client:
    def __init__(self, error: str | None = None, found: dict[str, Any] | None = None) -> None:
        self.error, self.found = error, found
        self.started: list[dict[str, Any]] = []

    def start_execution(self, **kw: Any) -> dict[str, Any]:
        self.started.append(kw)
        if self.error is not None:
            raise ClientError({"Error": {"Code": self.error, "Message": "no"}}, "StartExecution")
        return {"executionArn": "arn:new"}

    def describe_execution(self, executionArn: str) -> dict[str, Any]:
        if self.found is None:
            raise ClientError({"Error": {"Code": "Throttling", "Message": "no"}}, "Describe")
        return self.found


async def test_an_execution_is_named_after_its_debate() -> None:
    client = Client()
    assert await StepFunctionsStarter(MACHINE, client).start(DEBATE) == "arn:new"
    assert client.started == [
        {"stateMachineArn": MACHINE, "name": DEBATE, "input": '{"debate_id": "' + DEBATE + '"}'}
    ]


async def test_starting_a_debate_again_finds_its_execution() -> None:
    arn = await StepFunctionsStarter(MACHINE, Client("ExecutionAlreadyExists")).start(DEBATE)
    assert arn == "arn:aws:states:us-east-1:123456789012:execution:debates:" + DEBATE


async def test_other_refusals_are_a_retryable_unavailable_naming_the_code() -> None:
    with pytest.raises(DebateUnavailable) as caught:
        await StepFunctionsStarter(MACHINE, Client("AccessDeniedException")).start(DEBATE)
    assert caught.value.message == "could not start the debate: AccessDeniedException"
    assert caught.value.retryable and caught.value.status == 503


async def test_status_reports_the_error_or_the_cause_and_running_when_unknown() -> None:
    failed = Client(found={"status": "FAILED", "cause": "Lambda timed out"})
    assert await StepFunctionsStarter(MACHINE, failed).status("arn:x") == (
        "FAILED",
        "Lambda timed out",
    )
    both = Client(found={"status": "FAILED", "error": "States.Timeout", "cause": "slow"})
    assert await StepFunctionsStarter(MACHINE, both).status("arn:x") == ("FAILED", "States.Timeout")
    done = Client(found={"status": "SUCCEEDED"})
    assert await StepFunctionsStarter(MACHINE, done).status("arn:x") == ("SUCCEEDED", None)
    assert await StepFunctionsStarter(MACHINE, Client()).status("arn:x") == ("RUNNING", None)


async def test_a_refusal_without_a_code_is_still_a_clear_unavailable() -> None:
    class Bare(Client):
        def start_execution(self, **kw: Any) -> dict[str, Any]:
            raise ClientError({}, "StartExecution")

    with pytest.raises(DebateUnavailable) as caught:
        await StepFunctionsStarter(MACHINE, Bare()).start(DEBATE)
    assert caught.value.message == "could not start the debate: unknown"
