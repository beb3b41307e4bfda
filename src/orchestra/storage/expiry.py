"""When a store's records expire: ``ttl_days`` after they are written, by the store's clock.

The debate, chain-run and response stores each keep their records for a number of days
(the table's TTL attribute deletes them); the arithmetic and the test seam (``clock``)
live here once, so every store counts a day the same way.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Generic, TypeVar

DEFAULT_TTL_DAYS = 30
DAY_S = 86_400

B = TypeVar("B")


class ExpiringStore(Generic[B]):
    """A store over ``backend`` whose records live ``ttl_days`` (``clock``: tests move it)."""

    def __init__(
        self,
        backend: B,
        *,
        ttl_days: int = DEFAULT_TTL_DAYS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.backend = backend
        self.ttl_days = ttl_days
        self._clock = clock

    def _expires(self) -> int:
        """The epoch second a record written now expires at (its TTL attribute)."""
        return int(self._clock() + self.ttl_days * DAY_S)
