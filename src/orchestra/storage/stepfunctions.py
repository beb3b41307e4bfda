"""The debate's AWS Step Functions starter: one Standard execution per debate.

It implements :class:`orchestra.debate.service.Starter` (as the local runner does); boto3
and botocore are imported only when a call is made, so importing this module costs nothing.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from orchestra.errors import DebateUnavailable


class StepFunctionsStarter:
    """Starts one Standard execution per debate, named after the debate id."""

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

    def execution_arn(self, debate_id: str) -> str:
        return self.arn.replace(":stateMachine:", ":execution:") + ":" + debate_id

    async def start(self, debate_id: str) -> str | None:
        from botocore.exceptions import BotoCoreError, ClientError

        payload = json.dumps({"debate_id": debate_id})
        try:
            response = await asyncio.to_thread(
                self.client.start_execution, stateMachineArn=self.arn, name=debate_id, input=payload
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ExecutionAlreadyExists":
                return self.execution_arn(debate_id)
            code = exc.response.get("Error", {}).get("Code", "unknown")
            raise DebateUnavailable(f"could not start the debate: {code}") from exc
        except BotoCoreError as exc:
            raise DebateUnavailable(f"could not start the debate: {type(exc).__name__}") from exc
        return str(response["executionArn"])

    async def status(self, execution_arn: str) -> tuple[str, str | None]:
        """Step Functions' status for the execution, and its error if it ended badly."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            found = await asyncio.to_thread(
                self.client.describe_execution, executionArn=execution_arn
            )
        except (BotoCoreError, ClientError):
            return "RUNNING", None  # unknown: the stored record stands
        error = found.get("error") or found.get("cause")
        return str(found["status"]), str(error) if error else None

    async def aclose(self) -> None:
        """Nothing to release: the boto3 client holds no connection between calls."""
