"""A :class:`~support.upstream.FakeUpstream` on its own event loop thread, for synchronous
tests (the vendors' SDK clients block, so the upstream cannot share their thread's loop)."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator

from support.upstream import FakeUpstream


@contextlib.contextmanager
def upstream_in_thread(upstream: FakeUpstream | None = None) -> Iterator[FakeUpstream]:
    upstream = upstream or FakeUpstream()
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        asyncio.run_coroutine_threadsafe(upstream.start(), loop).result(10)
        yield upstream
    finally:
        asyncio.run_coroutine_threadsafe(upstream.stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()
