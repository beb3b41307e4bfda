"""The local runner: the generic state machine's path, walked in-process with the same steps.

``orchestra serve`` runs chains with it (in the background, so ``POST .../runs`` still
answers 202 at once) and ``orchestra chain run`` in the foreground; it makes the same
``next`` / ``run`` / ``join`` / ``finish`` calls as the state machine (a fan-out's items
under the same concurrency bound as the Map), so both write the same transcript.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from orchestra.chain.steps import ChainSteps
from orchestra.schemas.chain import ChainStep, RunStatus
from orchestra.states import caught

log = logging.getLogger("orchestra.chain")

#: called with each step result as it is written (the CLI prints it)
StepHook = Callable[[ChainStep], Awaitable[None]]


class LocalRunner:
    """A :class:`~orchestra.chain.protocols.Starter` that runs chains in this process."""

    #: a second start would run the chain a second time
    idempotent = False

    def __init__(self, steps: ChainSteps, max_concurrency: int = 16) -> None:
        self.steps = steps
        self.max_concurrency = max_concurrency
        self._running: set[asyncio.Task[RunStatus]] = set()

    async def start(self, run_id: str) -> str | None:
        """Run in the background; no execution ARN locally."""
        task = asyncio.get_running_loop().create_task(self.execute(run_id))
        self._running.add(task)
        task.add_done_callback(self._running.discard)
        return None

    async def status(self, execution_arn: str) -> tuple[str, str | None]:
        return "RUNNING", None

    async def execute(self, run_id: str, on_step: StepHook | None = None) -> RunStatus:
        """Next / Run / Fan+Join until done, then Finish; any failure is recorded."""
        seen: set[str] = set()
        try:
            cursor = ""
            while True:
                nxt = await self.steps.next(run_id, cursor)
                cursor = str(nxt["cursor"])
                if nxt["kind"] == "done":
                    break
                if on_step is not None:
                    seen = set((await self.steps.store.load(run_id)).steps)
                if nxt["kind"] == "single":
                    await self.steps.run_step(run_id, cursor)
                else:
                    await self._fan(run_id, cursor, list(nxt["items"]))
                    await self.steps.join(run_id, cursor)
                await self._report(run_id, seen, on_step)
            await self.steps.finish(run_id)
            return "succeeded"
        except Exception as exc:  # as the state machine's Catch: record, then fail
            log.warning("chain run %s failed: %s", run_id, exc)
            await self.steps.fail(run_id, caught(exc))
            if on_step is not None:
                await self._report(run_id, seen, on_step)
            return "failed"

    async def _fan(self, run_id: str, cursor: str, items: list[Any]) -> None:
        gate = asyncio.Semaphore(self.max_concurrency)

        async def one(item: int) -> None:
            async with gate:
                await self.steps.run_step(run_id, cursor, item)

        await asyncio.gather(*(one(int(i)) for i in items))

    async def _report(self, run_id: str, seen: set[str], on_step: StepHook | None) -> None:
        """The hook gets every result written since ``seen``, in document order."""
        if on_step is None:
            return
        run = await self.steps.store.load(run_id)
        for step in run.ordered():
            if step.path not in seen:
                await on_step(step)

    async def aclose(self) -> None:
        for task in list(self._running):
            task.cancel()
        if self._running:
            await asyncio.wait(self._running)
