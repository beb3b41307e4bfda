"""The workflows' AWS Step Functions starter: one Standard execution per debate, chain run
or batch, named after its id (``input_key`` names the id in the execution's input).

It implements the ``Starter`` protocols of ``debate.service`` and ``chain.protocols`` (as
the local runners do); boto3
and botocore are imported only when a call is made, so importing this module costs nothing.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from orchestra.errors import DebateUnavailable, OrchestraError


class StepFunctionsStarter:
    """Starts one Standard execution per run, named after its id. ``input_key``: the id's
    field in the input (``debate_id``, ``run_id``, ``batch_id``); ``error``: the typed
    error raised when Step Functions refuses (a 503), and ``what`` names the run in it."""

    #: Step Functions refuses a second execution of the same name: starting again is safe
    idempotent = True

    def __init__(
        self,
        state_machine_arn: str,
        client: Any = None,
        *,
        input_key: str = "debate_id",
        error: type[OrchestraError] = DebateUnavailable,
        what: str = "debate",
    ) -> None:
        self.arn = state_machine_arn
        self._client = client
        self.input_key, self.error, self.what = input_key, error, what

    @property
    def client(self) -> Any:
        if self._client is None:
            import boto3

            self._client = boto3.client("stepfunctions")
        return self._client

    def execution_arn(self, run_id: str) -> str:
        return self.arn.replace(":stateMachine:", ":execution:") + ":" + run_id

    async def start(self, run_id: str) -> str | None:
        from botocore.exceptions import BotoCoreError, ClientError

        payload = json.dumps({self.input_key: run_id})
        try:
            response = await asyncio.to_thread(
                self.client.start_execution, stateMachineArn=self.arn, name=run_id, input=payload
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ExecutionAlreadyExists":
                return self.execution_arn(run_id)
            code = exc.response.get("Error", {}).get("Code", "unknown")
            raise self.error(f"could not start the {self.what}: {code}") from exc
        except BotoCoreError as exc:
            raise self.error(f"could not start the {self.what}: {type(exc).__name__}") from exc
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
