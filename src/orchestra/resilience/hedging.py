"""May this request hedge? The caps on second attempts started beside a slow first one.

A hedge buys latency with upstream calls, so it is rationed:

- at most one per request (the fallback runner asks only once per request);
- at most ``per_minute`` per caller (the digest of the presented key,
  :mod:`orchestra.caller`), counted in fixed one-minute windows;
- never when the hedge's estimated worst case (the plan's prompt tokens at its input price,
  plus the output reserve at its output price) costs more than ``max_cost_usd``;
- never to or from a deployment whose options say ``hedge: false``;
- never at all with ``enabled=False`` (``ORCHESTRA_HEDGE=false``).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from orchestra.catalog.models import ModelInfo
from orchestra.config import Settings
from orchestra.resilience.budgets import expected_output

#: callers tracked per minute; past it, a new caller's hedge is refused (memory stays bounded
#: whatever number of keys a minute sees; hedges are an optimisation, never owed)
MAX_CALLERS = 10_000
WINDOW_S = 60.0


class HedgeGate:
    def __init__(
        self,
        *,
        enabled: bool = True,
        per_minute: int = 30,
        max_cost_usd: float = 0.05,
        allowed: Callable[[str], bool] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.enabled = enabled and per_minute > 0
        self.per_minute = per_minute
        self.max_cost_usd = max_cost_usd
        #: a deployment's ``hedge`` option, by model id (None: every deployment may hedge)
        self.allowed = allowed
        self._clock = clock
        self._window = -1
        self._counts: dict[str, int] = {}

    @classmethod
    def of(cls, settings: Settings, allowed: Callable[[str], bool] | None = None) -> HedgeGate:
        return cls(
            enabled=settings.hedge,
            per_minute=settings.hedge_per_minute,
            max_cost_usd=settings.hedge_max_cost_usd,
            allowed=allowed,
        )

    def may_hedge(self, first: ModelInfo) -> bool:
        """Whether a request running on ``first`` may hedge at all (before any delay)."""
        return self.enabled and (self.allowed is None or self.allowed(first.id))

    def admit(
        self,
        first: ModelInfo,
        second: ModelInfo,
        *,
        prompt_tokens: int,
        output_tokens: int,
        caller: str,
    ) -> bool:
        """Whether ``second`` may start beside ``first`` now; a yes spends one of the
        caller's hedges for this minute."""
        if not self.may_hedge(first):
            return False
        if self.allowed is not None and not self.allowed(second.id):
            return False
        if worst_case_cost(second, prompt_tokens, output_tokens) > self.max_cost_usd:
            return False
        return self._spend(caller)

    def _spend(self, caller: str) -> bool:
        window = int(self._clock() // WINDOW_S)
        if window != self._window:
            self._window, self._counts = window, {}
        used = self._counts.get(caller, 0)
        if used >= self.per_minute or (used == 0 and len(self._counts) >= MAX_CALLERS):
            return False
        self._counts[caller] = used + 1
        return True


def worst_case_cost(model: ModelInfo, prompt_tokens: int, output_tokens: int) -> float:
    """USD a call to ``model`` may cost: the whole prompt and the whole output reserve."""
    return model.cost(prompt_tokens, expected_output(model, output_tokens))
