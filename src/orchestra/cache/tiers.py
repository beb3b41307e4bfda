"""Two levels: the in-process LRU, then the shared second level (DynamoDB).

A lookup reads the LRU; on a miss there, the second level once (exactly one read), and an
entry found there is kept in the LRU for the next request. A store writes both.
"""

from __future__ import annotations

import logging

from orchestra.cache.lru import ByteLRU
from orchestra.cache.protocols import AnswerBackend
from orchestra.cache.records import CachedAnswer

log = logging.getLogger("orchestra.cache")


class AnswerTiers:
    """The LRU in front of ``shared`` (None: the LRU alone, as ``orchestra serve`` runs).

    ``keep_s``: how long past its freshness an entry stays in the second level, for the
    offline answers (``allow_stale``)."""

    def __init__(self, lru: ByteLRU, shared: AnswerBackend | None = None, keep_s: int = 0) -> None:
        self.lru = lru
        self.shared = shared
        self.keep_s = keep_s

    def local(self, key: str) -> CachedAnswer | None:
        """The LRU's entry, no I/O."""
        return self.lru.get(key)

    async def get(self, key: str, *, past: CachedAnswer | None = None) -> CachedAnswer | None:
        """The entry, fresh or stale (the caller decides); one read of the second level
        when the LRU has none, or has only ``past`` (an entry the caller found stale: another
        instance may have stored a fresher one). A second level that fails is a miss, logged
        (``past`` then, if any)."""
        entry = self.lru.get(key)
        if (entry is not None and entry is not past) or self.shared is None:
            return entry
        try:
            found = await self.shared.get(key)
        except Exception as exc:  # the cache is an optimisation: never an outage
            log.warning("cache read failed: %s", type(exc).__name__)
            return entry
        if found is None or (entry is not None and found.created_at <= entry.created_at):
            return entry
        self.lru.put(key, found)
        return found

    async def put(self, key: str, answer: CachedAnswer) -> None:
        self.lru.put(key, answer)
        if self.shared is None:
            return
        try:
            await self.shared.put(key, answer, int(answer.fresh_until) + self.keep_s)
        except Exception as exc:
            log.warning("cache write failed: %s", type(exc).__name__)
