"""Budgets with holds and per-minute rate limits, counted in one item per scope.

Before an upstream call the gateway *holds* the call's worst-case cost against every
metered scope (the key, and its team): one conditional update per scope adds the amount to
the day and month counters (committed = settled + held), counts the request and its tokens
in the minute, and records the hold, failing instead when any limit would be passed. The
check and the addition are one atomic update, so instances sharing the table can never
overshoot together. After the call :meth:`Ledger.settle` moves the counters to the actual
cost and drops the hold. A hold whose request crashed expires (``hold_ttl_s``) and is
reclaimed by the next reservation that it stands in the way of.

The logic lives here once; a :class:`LedgerBackend` (memory, DynamoDB) applies a
:class:`LedgerUpdate` atomically and nothing more. Item layout: see docs/governance.md.
"""

from __future__ import annotations

import asyncio
import functools
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

from orchestra.errors import BudgetExceeded, PolicyRefusal, RequestRateLimited
from orchestra.governance.headers import rate_headers, rate_state
from orchestra.governance.ledger_backend import Ceiling, LedgerBackend, LedgerUpdate
from orchestra.governance.protocols import RateState
from orchestra.governance.records import Limits, Nanos, to_nanos, to_usd
from orchestra.governance.windows import (
    HOLD_PREFIX,
    REQUESTS_PREFIX,
    TOKENS_PREFIX,
    iso_utc,
    minute_at,
    period_at,
    stale_attributes,
)

__all__ = [
    "Ceiling",
    "Hold",
    "Ledger",
    "LedgerBackend",
    "LedgerUpdate",
    "Scope",
    "ScopeUsage",
    "rate_headers",
]

#: a ledger item nobody reserves against for this long is deleted by the table's TTL
#: (longer than any month, so no counter that can still refuse is lost)
ITEM_TTL_S = 40 * 86400


@dataclass(frozen=True, slots=True)
class Scope:
    """One metered scope: a key or a team and its limits."""

    kind: Literal["key", "team"]
    id: str
    limits: Limits

    @property
    def pk(self) -> str:
        return f"{self.kind}#{self.id}"

    def budget(self, which: str) -> str:
        """A budget's or limit's name as errors carry it: ``key:ci-bot:day``."""
        return f"{self.kind}:{self.id}:{which}"


@dataclass(frozen=True, slots=True)
class Hold:
    """A reservation against ``scopes`` (the metered ones only: none means no I/O).

    It records its windows so its settle lands in the day, month and minute it was taken
    in, even when the call ends after midnight."""

    hold_id: str
    scopes: tuple[Scope, ...]
    nanos: Nanos
    tokens: int
    count_request: bool
    day: str
    month: str
    minute: int
    expires_at: int


@dataclass(frozen=True, slots=True)
class ScopeUsage:
    """What a scope has committed now (settled + held) and how much of it is held."""

    day_nanos: Nanos
    month_nanos: Nanos
    held_nanos: Nanos
    holds: int
    requests_this_minute: int
    tokens_this_minute: int


@functools.lru_cache(maxsize=1024)
def _limit_nanos(usd: Decimal) -> Nanos:
    return to_nanos(usd)


def _new_hold_id() -> str:
    return os.urandom(8).hex()


class Ledger:
    """Holds, settles and releases against the metered scopes of a request."""

    def __init__(
        self,
        backend: LedgerBackend,
        *,
        hold_ttl_s: int = 900,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.backend = backend
        self.hold_ttl_s = hold_ttl_s
        self._clock = clock
        #: stale counters seen per item, dropped by that item's next reservation
        self._stale: dict[str, frozenset[str]] = {}
        #: the minute each item was last looked at for stale counters
        self._looked: dict[str, int] = {}

    async def hold(
        self, scopes: Sequence[Scope], nanos: Nanos, tokens: int, *, count_request: bool
    ) -> tuple[Hold, list[RateState]]:
        """Reserve ``nanos`` (the call's worst case) and ``tokens`` against every metered
        scope; count one request too when ``count_request``. Raises
        :class:`BudgetExceeded` or :class:`RequestRateLimited`, and then nothing stays held."""
        now = self._clock()
        _check_request_caps(scopes, nanos)
        hold = self._new_hold(scopes, nanos, tokens, count_request, now)
        if not hold.scopes:
            return hold, []
        changes = [self._reservation(scope, hold, now) for scope in hold.scopes]
        if len(changes) == 1:
            return hold, [await self._reserve(hold.scopes[0], changes[0], hold, now)]
        results = await asyncio.gather(
            *(self._reserve(s, c, hold, now) for s, c in zip(hold.scopes, changes, strict=True)),
            return_exceptions=True,
        )
        states = [r for r in results if isinstance(r, RateState)]
        if len(states) == len(results):
            return hold, states
        await self._compensate(hold, results)
        refusals = [r for r in results if isinstance(r, PolicyRefusal)]
        raise refusals[0] if refusals else next(r for r in results if isinstance(r, BaseException))

    async def settle(self, hold: Hold, nanos: Nanos, tokens: int) -> None:
        """Move the hold to the actual cost and tokens and drop it. A hold already
        reclaimed (its request outlived ``hold_ttl_s``) still gets its actual cost added:
        spend is never lost."""
        if not hold.scopes:
            return
        if len(hold.scopes) == 1:
            await self._settle_scope(hold.scopes[0], hold, nanos, tokens)
            return
        await asyncio.gather(*(self._settle_scope(s, hold, nanos, tokens) for s in hold.scopes))

    async def release(self, hold: Hold) -> None:
        """The call cost nothing (it failed before any output): settle to zero. The request
        itself stays counted against the minute's requests."""
        await self.settle(hold, 0, 0)

    async def usage(self, scope: Scope) -> ScopeUsage:
        """One read of the scope's item: committed today and this month, held, this minute."""
        now = self._clock()
        item = await self.backend.read(scope.pk)
        period = period_at(now)
        minute = minute_at(now)
        holds = [v for k, v in item.items() if k.startswith(HOLD_PREFIX)]
        return ScopeUsage(
            day_nanos=int(item.get(period.day, 0)),
            month_nanos=int(item.get(period.month, 0)),
            held_nanos=sum(int(h["n"]) for h in holds),
            holds=len(holds),
            requests_this_minute=int(item.get(f"{REQUESTS_PREFIX}{minute}", 0)),
            tokens_this_minute=int(item.get(f"{TOKENS_PREFIX}{minute}", 0)),
        )

    # --- reservation ----------------------------------------------------------------------

    def _new_hold(
        self, scopes: Sequence[Scope], nanos: Nanos, tokens: int, count_request: bool, now: float
    ) -> Hold:
        period = period_at(now)
        return Hold(
            hold_id=_new_hold_id(),
            scopes=tuple(s for s in scopes if s.limits.metered),
            nanos=nanos,
            tokens=tokens,
            count_request=count_request,
            day=period.day,
            month=period.month,
            minute=minute_at(now),
            expires_at=int(now) + self.hold_ttl_s,
        )

    def _reservation(self, scope: Scope, hold: Hold, now: float) -> LedgerUpdate:
        """The conditional update that reserves ``hold`` on ``scope``; refuses locally (no
        I/O) when the amount alone is above a limit, since no item state could admit it."""
        limits = scope.limits
        requests_attr = f"{REQUESTS_PREFIX}{hold.minute}"
        tokens_attr = f"{TOKENS_PREFIX}{hold.minute}"
        add: dict[str, int] = {}
        ceilings: list[Ceiling] = []
        if hold.nanos:
            add[hold.day] = add[hold.month] = hold.nanos
        if limits.budget_day_usd is not None:
            ceilings.append(
                Ceiling(hold.day, _limit_nanos(limits.budget_day_usd) - hold.nanos, "day")
            )
        if limits.budget_month_usd is not None:
            bound = _limit_nanos(limits.budget_month_usd) - hold.nanos
            ceilings.append(Ceiling(hold.month, bound, "month"))
        if hold.count_request:
            add[requests_attr] = 1
            if limits.rpm is not None:
                ceilings.append(Ceiling(requests_attr, limits.rpm - 1, "rpm"))
        if hold.tokens:
            add[tokens_attr] = hold.tokens
        if limits.tpm is not None and (hold.tokens or hold.count_request):
            ceilings.append(Ceiling(tokens_attr, limits.tpm - hold.tokens, "tpm"))
        for ceiling in ceilings:
            if ceiling.bound < 0:
                raise self._refusal(scope, hold, ceiling, {}, now)
        record = {
            "n": hold.nanos,
            "t": hold.tokens,
            "d": hold.day,
            "m": hold.month,
            "x": hold.expires_at,
        }
        return LedgerUpdate(
            add=add,
            ceilings=tuple(ceilings),
            set_hold=(HOLD_PREFIX + hold.hold_id, record),
            remove=self._stale.get(scope.pk, frozenset()),
            expires_at=int(now) + ITEM_TTL_S,
        )

    async def _reserve(
        self, scope: Scope, change: LedgerUpdate, hold: Hold, now: float
    ) -> RateState:
        ok, item = await self.backend.update(scope.pk, change)
        if not ok and await self._reclaim_expired(scope, item, now):
            ok, item = await self.backend.update(scope.pk, change)
        if not ok:
            raise self._refusal(scope, hold, _failed_ceiling(change, item), item, now)
        self._note_stale(scope.pk, change, item, hold.minute, now)
        return rate_state(scope.limits, item, hold.minute, now)

    def _note_stale(
        self, pk: str, change: LedgerUpdate, item: dict[str, Any], minute: int, now: float
    ) -> None:
        """Remember the item's stale counters for its next reservation to remove; look
        once a minute per item (nothing turns stale faster)."""
        if change.remove:
            self._stale.pop(pk, None)
        if self._looked.get(pk) != minute:
            self._looked[pk] = minute
            stale = stale_attributes(item, now)
            if stale:
                self._stale[pk] = stale

    async def _reclaim_expired(self, scope: Scope, item: dict[str, Any], now: float) -> bool:
        """Give back the holds of crashed requests (expired by ``hold_ttl_s``), one
        conditional update each: a hold its owner settles meanwhile is left to the settle."""
        expired = [
            (name, record)
            for name, record in item.items()
            if name.startswith(HOLD_PREFIX) and int(record["x"]) < now
        ]
        if not expired:
            return False
        await asyncio.gather(
            *(self.backend.update(scope.pk, _give_back(name, record)) for name, record in expired)
        )
        return True

    async def _compensate(self, hold: Hold, results: Sequence[object]) -> None:
        """Undo the reservations that succeeded when another scope refused: the request
        was never made, so its money, tokens and request count all come back. An undo that
        fails (storage) leaves that hold to expire; the refusal is still what is raised."""
        undo: dict[str, int] = {}
        if hold.nanos:
            undo[hold.day] = undo[hold.month] = -hold.nanos
        if hold.tokens:
            undo[f"{TOKENS_PREFIX}{hold.minute}"] = -hold.tokens
        if hold.count_request:
            undo[f"{REQUESTS_PREFIX}{hold.minute}"] = -1
        change = LedgerUpdate(add=undo, remove_hold=HOLD_PREFIX + hold.hold_id)
        await asyncio.gather(
            *(
                self.backend.update(scope.pk, change)
                for scope, result in zip(hold.scopes, results, strict=True)
                if isinstance(result, RateState)
            ),
            return_exceptions=True,
        )

    async def _settle_scope(self, scope: Scope, hold: Hold, nanos: Nanos, tokens: int) -> None:
        delta = nanos - hold.nanos
        add: dict[str, int] = {}
        if delta:
            add[hold.day] = add[hold.month] = delta
        if tokens != hold.tokens:
            add[f"{TOKENS_PREFIX}{hold.minute}"] = tokens - hold.tokens
        ok, _ = await self.backend.update(
            scope.pk, LedgerUpdate(add=add, remove_hold=HOLD_PREFIX + hold.hold_id)
        )
        if not ok:  # reclaimed: its money was given back, so add the actual cost plainly
            add = {k: v for k, v in add.items() if k[:2] == TOKENS_PREFIX}
            if nanos:
                add[hold.day] = add[hold.month] = nanos
            if add:
                await self.backend.update(scope.pk, LedgerUpdate(add=add))

    # --- refusals -------------------------------------------------------------------------

    def _refusal(
        self, scope: Scope, hold: Hold, ceiling: Ceiling, item: dict[str, Any], now: float
    ) -> PolicyRefusal:
        if ceiling.which in ("rpm", "tpm"):
            retry_after = 60.0 - now % 60
            state = rate_state(scope.limits, item, hold.minute, now)
            return RequestRateLimited(
                f"rate limit {scope.budget(ceiling.which)} reached; retry in "
                f"{math.ceil(retry_after)}s",
                limit=scope.budget(ceiling.which),
                retry_after=retry_after,
                headers=rate_headers([state]),
            )
        period = period_at(now)
        ends = period.day_ends if ceiling.which == "day" else period.month_ends
        limit = (
            scope.limits.budget_day_usd if ceiling.which == "day" else scope.limits.budget_month_usd
        )
        return BudgetExceeded(
            f"budget {scope.budget(ceiling.which)} (${limit}) would be exceeded by this "
            f"call's worst case of ${to_usd(hold.nanos)}; it resets at {iso_utc(ends)}",
            budget=scope.budget(ceiling.which),
            resets_at=iso_utc(ends),
            retry_after=float(ends - int(now)),
        )


def _check_request_caps(scopes: Sequence[Scope], nanos: Nanos) -> None:
    """The per-request cap, checked here before any I/O: no counter can change its answer."""
    for scope in scopes:
        cap = scope.limits.max_request_usd
        if cap is not None and nanos > _limit_nanos(cap):
            raise BudgetExceeded(
                f"this call may cost up to ${to_usd(nanos)}, above the per-request "
                f"cap of ${cap} ({scope.budget('request')})",
                budget=scope.budget("request"),
            )


def _failed_ceiling(change: LedgerUpdate, item: dict[str, Any]) -> Ceiling:
    """The first ceiling the item as it was does not satisfy (budgets come first: a
    spent budget outlasts a full minute). Some ceiling must fail, or the update would have
    applied; the first one stands in if the item changed since."""
    for ceiling in sorted(change.ceilings, key=lambda c: c.which not in ("day", "month")):
        value = item.get(ceiling.attr)
        if value is not None and int(value) > ceiling.bound:
            return ceiling
    return change.ceilings[0]


def _give_back(name: str, record: dict[str, Any]) -> LedgerUpdate:
    """Reclaiming an expired hold returns its money (its minute is long over)."""
    nanos = int(record["n"])
    add = {str(record["d"]): -nanos, str(record["m"]): -nanos} if nanos else {}
    return LedgerUpdate(add=add, remove_hold=name)
