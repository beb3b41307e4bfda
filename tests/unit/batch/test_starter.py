"""Batches start on Step Functions through the shared starter: one execution per batch,
named after it, its input ``{"batch_id"}``; a refusal is a retryable 503."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from botocore.exceptions import ClientError

from orchestra.compose.batches import starter
from orchestra.config import Settings
from orchestra.errors import WorkflowUnavailable
from orchestra.storage.stepfunctions import StepFunctionsStarter

MACHINE = "arn:aws:states:us-east-1:123456789012:stateMachine:batches"
BATCH = "batch_" + "b" * 24


class Client:
    def __init__(self, error: str | None = None) -> None:
        self.error = error
        self.started: list[dict[str, Any]] = []

    def start_execution(self, **kw: Any) -> dict[str, Any]:
        self.started.append(kw)
        if self.error is not None:
            raise ClientError({"Error": {"Code": self.error, "Message": "no"}}, "StartExecution")
        return {"executionArn": "arn:new"}


def _deployed(client: Client) -> StepFunctionsStarter:
    settings = Settings(mode="aws", batch_state_machine_arn=MACHINE)
    chosen = starter(SimpleNamespace(settings=settings), lambda: None)  # type: ignore[arg-type, return-value]
    assert isinstance(chosen, StepFunctionsStarter)
    chosen._client = client
    return chosen


async def test_a_deployed_batch_is_one_execution_named_after_it() -> None:
    client = Client()
    assert await _deployed(client).start(BATCH) == "arn:new"
    assert client.started == [
        {"stateMachineArn": MACHINE, "name": BATCH, "input": '{"batch_id": "' + BATCH + '"}'}
    ]


async def test_starting_a_batch_again_finds_its_execution() -> None:
    arn = await _deployed(Client("ExecutionAlreadyExists")).start(BATCH)
    assert arn == "arn:aws:states:us-east-1:123456789012:execution:batches:" + BATCH


async def test_a_refusal_is_a_retryable_workflow_unavailable_naming_the_batch() -> None:
    with pytest.raises(WorkflowUnavailable) as caught:
        await _deployed(Client("AccessDeniedException")).start(BATCH)
    assert caught.value.message == "could not start the batch: AccessDeniedException"
    assert caught.value.status == 503
