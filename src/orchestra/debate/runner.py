"""The local runner: the state machine's path, walked in-process with the same steps.

``orchestra serve`` runs debates with it (in the background, so ``POST /v1/debates`` still
answers 202 at once), ``orchestra debate`` runs one in the foreground, and the tests check
that it writes the same transcript as the state machine executed by moto.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from orchestra.debate.steps import DebateSteps
from orchestra.schemas.debate import DebateStatus
from orchestra.states import caught

log = logging.getLogger("orchestra.debate")

RoundHook = Callable[[int, dict[str, Any]], Awaitable[None]]


class LocalRunner:
    """A :class:`~orchestra.debate.service.Starter` that runs debates in this process."""

    #: a second start would run the debate a second time
    idempotent = False

    def __init__(self, steps: DebateSteps) -> None:
        self.steps = steps
        self._running: set[asyncio.Task[DebateStatus]] = set()

    async def start(self, debate_id: str) -> str | None:
        """Run in the background; no execution ARN locally."""
        task = asyncio.get_running_loop().create_task(self.execute(debate_id))
        self._running.add(task)
        task.add_done_callback(self._running.discard)
        return None

    async def status(self, execution_arn: str) -> tuple[str, str | None]:
        """No execution to ask about locally: the stored record stands."""
        return "RUNNING", None

    async def execute(self, debate_id: str, on_round: RoundHook | None = None) -> DebateStatus:
        """Init, rounds until converged or the limit, synthesis; any failure is recorded."""
        try:
            init = await self.steps.init(debate_id)
            participants, round_no = list(init["participants"]), 1
            while True:
                await asyncio.gather(*(self._turn(debate_id, round_no, p) for p in participants))
                convergence = await self.steps.converge(debate_id, round_no)
                if on_round is not None:
                    await on_round(round_no, convergence)
                if convergence["stop"]:
                    break
                participants, round_no = list(convergence["participants"]), round_no + 1
            await self.steps.synthesize(debate_id)
            await self.steps.finalize(debate_id)
            return "SUCCEEDED"
        except Exception as exc:  # as the state machine's Catch: record, then fail
            log.warning("debate %s failed: %s", debate_id, exc)
            await self.steps.fail(debate_id, caught(exc))
            return "FAILED"

    async def _turn(self, debate_id: str, round_no: int, participant: str) -> None:
        """A turn that raises is dropped, as the Map's per-iteration Catch does."""
        try:
            await self.steps.turn(debate_id, round_no, participant)
        except Exception:
            log.exception("debate %s: turn of %s failed", debate_id, participant)

    async def aclose(self) -> None:
        for task in list(self._running):
            task.cancel()
        if self._running:
            await asyncio.wait(self._running)
