"""The batch's AWS Step Functions starter: one Standard execution per batch, named after it.

A stand-in until ``storage/stepfunctions.py``'s starter takes an input key (the chain helper
generalises it): then ``StepFunctionsStarter(arn, input_key="batch_id")`` replaces this.
It implements :class:`orchestra.batch.protocols.Starter`; boto3 is imported at first call.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from orchestra.errors import WorkflowUnavailable


class StepFunctionsBatchStarter:
    #: Step Functions refuses a second execution of the same name: starting again is safe
    idempotent = True

    def __init__(self, state_machine_arn: str, client: Any = None) -> None:
        self.arn = state_machine_arn
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            import boto3

            self._client = boto3.client("stepfunctions")
        return self._client

    def execution_arn(self, batch_id: str) -> str:
        return self.arn.replace(":stateMachine:", ":execution:") + ":" + batch_id

    async def start(self, batch_id: str) -> str | None:
        from botocore.exceptions import BotoCoreError, ClientError

        payload = json.dumps({"batch_id": batch_id})
        try:
            response = await asyncio.to_thread(
                self.client.start_execution, stateMachineArn=self.arn, name=batch_id, input=payload
            )
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "unknown")
            if code == "ExecutionAlreadyExists":
                return self.execution_arn(batch_id)
            raise WorkflowUnavailable(f"could not start the batch: {code}") from exc
        except BotoCoreError as exc:
            raise WorkflowUnavailable(f"could not start the batch: {type(exc).__name__}") from exc
        return str(response["executionArn"])

    async def aclose(self) -> None:
        """Nothing to release: the boto3 client holds no connection between calls."""
