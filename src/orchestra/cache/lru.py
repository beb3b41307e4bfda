"""The first level: an in-process LRU bounded in bytes.

Each instance keeps the answers it served or stored lately; a Lambda instance lives for
minutes to hours, so a hot question is answered without leaving the process. Entries are
kept past their freshness (a stale answer is still worth having when every provider is
down) until the bytes bound evicts the least recently used.
"""

from __future__ import annotations

from collections import OrderedDict

from orchestra.cache.records import CachedAnswer


class ByteLRU:
    """Answers by key, least recently used evicted first once ``max_bytes`` is passed; an
    entry larger than ``max_entry_bytes`` is not kept."""

    def __init__(self, max_bytes: int, max_entry_bytes: int | None = None) -> None:
        self.max_bytes = max_bytes
        self.max_entry_bytes = max_entry_bytes or max(max_bytes // 8, 1)
        self.bytes = 0
        self._entries: OrderedDict[str, CachedAnswer] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: str) -> CachedAnswer | None:
        entry = self._entries.get(key)
        if entry is not None:
            self._entries.move_to_end(key)
        return entry

    def put(self, key: str, answer: CachedAnswer) -> bool:
        """Keep ``answer`` (replacing any entry under ``key``); False when it is too large."""
        size = answer.size()
        if size > self.max_entry_bytes or size > self.max_bytes:
            self.pop(key)
            return False
        self.pop(key)
        self._entries[key] = answer
        self.bytes += size
        while self.bytes > self.max_bytes:
            _, evicted = self._entries.popitem(last=False)
            self.bytes -= evicted.size()
        return True

    def pop(self, key: str) -> CachedAnswer | None:
        entry = self._entries.pop(key, None)
        if entry is not None:
            self.bytes -= entry.size()
        return entry
