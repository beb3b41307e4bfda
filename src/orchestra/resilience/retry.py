"""Retry timing: exponential backoff with full jitter, honouring ``Retry-After``, in a deadline."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from orchestra.errors import OrchestraError, retry_after_of


class Deadline:
    """A per-request time budget on the monotonic clock."""

    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self.expires = clock() + seconds

    def remaining(self) -> float:
        return max(self.expires - self._clock(), 0.0)

    def expired(self) -> bool:
        return self.remaining() <= 0.0


@dataclass(frozen=True)
class RetryPolicy:
    #: tries of the same model before falling back to the next one
    attempts_per_model: int = 2
    base_delay_s: float = 0.25
    max_delay_s: float = 4.0
    #: a server asking for more than this is treated as "go elsewhere now"
    max_retry_after_s: float = 10.0
    #: time kept back for the answer itself when deciding whether a wait fits
    min_call_budget_s: float = 1.0
    #: share of the remaining budget one attempt may use while other candidates wait
    attempt_share: float = 0.7
    rng: random.Random = field(default_factory=random.Random, compare=False, repr=False)

    def backoff(self, retry_index: int) -> float:
        """Full jitter: uniform in [0, min(max, base * 2^i)]."""
        cap = min(self.max_delay_s, self.base_delay_s * (2**retry_index))
        return self.rng.uniform(0.0, cap)

    def delay_before_retry(
        self, error: OrchestraError, retry_index: int, deadline: Deadline
    ) -> float | None:
        """Seconds to wait before trying the same model again, or None to move on."""
        if not error.retryable or retry_index + 1 >= self.attempts_per_model:
            return None
        suggested = retry_after_of(error)
        if suggested is not None and suggested > self.max_retry_after_s:
            return None
        delay = suggested if suggested is not None else self.backoff(retry_index)
        if delay + self.min_call_budget_s > deadline.remaining():
            return None
        return delay
