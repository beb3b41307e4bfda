"""The local runner: the batch state machine's path, walked in-process with the same steps.

``orchestra serve`` runs batches with it in the background (``POST /v1/batches`` answers at
once): prepare, then the chunks ``concurrency`` at a time (a chunk that raises becomes
``chunk_failed``, as the Map's per-item Catch does), then finalize; anything else, ``fail``.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from orchestra.batch.steps import BatchSteps
from orchestra.states import caught

log = logging.getLogger("orchestra.batch")


class LocalRunner:
    """A :class:`~orchestra.batch.protocols.Starter` that runs batches in this process."""

    #: a second start would run the batch a second time
    idempotent = False

    def __init__(self, steps: BatchSteps, concurrency: int = 8) -> None:
        self.steps = steps
        self.concurrency = concurrency
        self._running: set[asyncio.Task[str]] = set()

    async def start(self, batch_id: str) -> str | None:
        """Run in the background; no execution ARN locally."""
        task = asyncio.get_running_loop().create_task(self.execute(batch_id))
        self._running.add(task)
        task.add_done_callback(self._running.discard)
        return None

    async def execute(self, batch_id: str) -> str:
        """The whole batch; its final status."""
        try:
            prepared = await self.steps.prepare(batch_id, inline=True)
            gate = asyncio.Semaphore(self.concurrency)
            await asyncio.gather(*(self._chunk(batch_id, c, gate) for c in prepared["manifest"]))
            return str((await self.steps.finalize(batch_id))["status"])
        except Exception as exc:  # as the state machine's Catch: record, then fail
            log.warning("batch %s failed: %s", batch_id, exc)
            await self.steps.fail(batch_id, caught(exc))
            return "failed"

    async def _chunk(self, batch_id: str, item: dict[str, Any], gate: asyncio.Semaphore) -> None:
        async with gate:
            try:
                await self.steps.chunk(batch_id, item)
            except Exception as exc:
                log.exception("batch %s: chunk %s failed", batch_id, item.get("chunk"))
                await self.steps.chunk_failed(batch_id, item, caught(exc))

    async def aclose(self) -> None:
        for task in list(self._running):
            task.cancel()
        if self._running:
            await asyncio.wait(self._running)
