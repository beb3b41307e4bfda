"""Work a request leaves for after its response: the ledger's settle and the spend row.

A call's settle needs nothing from the client, and the client needs nothing from it: its
hold (the call's worst case) keeps the budget safe until it lands. So when the request runs
under :func:`settling` (the app's middleware, ``api/app.py``), the settle starts at once in
its own task and the response goes out beside it; the middleware awaits every such task
after the response is sent, so a Lambda invocation still ends only once its settles have
landed, and nothing is lost. Without it (tests calling a use case directly) the settle is
awaited where it is made, as before.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Coroutine
from contextvars import ContextVar
from typing import Any

log = logging.getLogger("orchestra.governance")

_pending: ContextVar[list[Awaitable[Any]] | None] = ContextVar("orchestra_deferred", default=None)


def defer(work: Coroutine[Any, Any, None]) -> Awaitable[None] | None:
    """``work`` started now, finished after the response; None when nothing defers
    (the caller awaits ``work`` itself then)."""
    pending = _pending.get()
    if pending is None:
        return None
    task = asyncio.ensure_future(work)
    pending.append(task)
    return task


class SettleAfterResponse:
    """ASGI middleware: a request's deferred work is awaited once its response is sent."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        pending: list[Awaitable[Any]] = []
        token = _pending.set(pending)
        try:
            await self.app(scope, receive, send)
        finally:
            _pending.reset(token)
            if pending:
                for failed in await asyncio.gather(*pending, return_exceptions=True):
                    if isinstance(failed, BaseException):
                        log.error("deferred settle failed: %s", type(failed).__name__)
