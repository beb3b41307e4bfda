"""The circuit-breaker logic, written once over any ``BreakerBackend``.

Reads are cached in-process for ``cache_ttl_s`` and refreshed for a whole candidate list
with one ``get_many`` (``prefetch``); the hot path (closed breaker, success with no
failures on record) does no I/O at all. Every transition is a conditional write on the
record's version, so concurrent Lambda instances agree: on a conflict the one model is
re-read once and the transition re-applied, so concurrent failures are all counted, a
breaker opens once, and only one instance wins the half-open probe lease.

Storage failures never fail a request: they are logged and the breaker answers from its
cache (unknown models count as closed), i.e. it fails open.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from functools import partial

from orchestra.errors import StorageError
from orchestra.storage.protocols import BreakerBackend, BreakerState, BreakerStateName

_log = logging.getLogger("orchestra.breaker")


@dataclass(frozen=True)
class BreakerPolicy:
    failure_threshold: int = 5
    #: failures older than this (from the first failure of the window) are forgotten
    window_s: float = 60.0
    #: how long an open breaker rejects calls before one probe is let through
    cooldown_s: float = 30.0
    #: how long one instance holds the half-open probe before another may try
    probe_lease_s: float = 30.0
    cache_ttl_s: float = 2.0


@dataclass(frozen=True)
class BreakerView:
    state: BreakerStateName
    #: whether a call may be attempted now (closed, or a probe could be taken)
    available: bool
    #: open: when the cooldown ends; half-open: when the probe lease expires
    retry_at: float | None
    failures: int


@dataclass(frozen=True)
class Permit:
    """Leave to call a model; ``probe`` marks the single half-open trial call."""

    probe: bool


#: the permit of a closed breaker (immutable, so one serves every call)
_CALL = Permit(probe=False)

Transition = Callable[[BreakerState, float], BreakerState | None]


class CircuitBreaker:
    """Per-model breakers shared through a ``BreakerBackend``, cached in-process."""

    def __init__(
        self,
        backend: BreakerBackend,
        policy: BreakerPolicy | None = None,
        clock: Callable[[], float] = time.time,
        on_open: Callable[[str], None] | None = None,
    ) -> None:
        self._backend = backend
        #: told once per transition to open that this instance won (the open-breakers alarm)
        self._on_open = on_open
        self._policy = policy or BreakerPolicy()
        self._clock = clock
        self._cache: dict[str, tuple[BreakerState, float]] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._locks_loop: asyncio.AbstractEventLoop | None = None

    @property
    def policy(self) -> BreakerPolicy:
        return self._policy

    def now(self) -> float:
        """The breaker's clock (the scale of ``retry_at``)."""
        return self._clock()

    async def prefetch(self, model_ids: Iterable[str]) -> None:
        """Refresh every cached entry older than ``cache_ttl_s`` with one ``get_many``."""
        now = self._clock()
        cache, ttl = self._cache, self._policy.cache_ttl_s
        # _is_stale inlined: asked for every deployment of every plan
        stale = [
            m for m in dict.fromkeys(model_ids) if (e := cache.get(m)) is None or now - e[1] >= ttl
        ]
        if not stale:
            return
        try:
            found = await self._backend.get_many(stale)
        except StorageError as exc:
            _log.warning("breaker read failed for %s, using cached state: %s", stale, exc)
            found = {m: self._cached(m) for m in stale}
        for model_id in stale:
            self._cache[model_id] = (found.get(model_id, BreakerState(model_id)), now)

    def view(self, model_id: str) -> BreakerView:
        """The breaker as this instance last saw it (no I/O; unknown models are closed)."""
        return _view(self._cached(model_id), self._clock(), self._policy)

    def available(self, model_id: str) -> bool:
        """``view(model_id).available`` without making the view: a closed breaker (nearly
        every one) is available whatever its clock says, and this is asked per candidate
        on every request."""
        entry = self._cache.get(model_id)
        if entry is None or entry[0].state == "closed":
            return True
        return _view(entry[0], self._clock(), self._policy).available

    def states_of(self, model_ids: list[str]) -> list[BreakerStateName]:
        """Each breaker's state as this instance last saw it: no I/O and, unlike
        :meth:`view`, no object made (load balancing reads it for every deployment)."""
        cache = self._cache
        return [entry[0].state if (entry := cache.get(m)) else "closed" for m in model_ids]

    def soonest_retry(self, model_ids: Iterable[str]) -> tuple[str, float] | None:
        """Among non-closed breakers, the model that may be retried first, and when."""
        waits: list[tuple[str, float]] = []
        for model_id in model_ids:
            retry_at = self.view(model_id).retry_at
            if retry_at is not None:
                waits.append((model_id, retry_at))
        return min(waits, key=lambda wait: wait[1], default=None)

    async def acquire(self, model_id: str) -> Permit | None:
        """A permit to call ``model_id``, or None while its breaker rejects calls."""
        entry = self._cache.get(model_id)
        if entry is None or entry[0].state == "closed":  # the common case: no view made
            return _CALL
        view = _view(entry[0], self._clock(), self._policy)
        if not view.available:
            return None
        async with self._lock(model_id):
            return await self._take_probe(model_id)

    async def record_success(self, model_id: str, permit: Permit | None = None) -> None:
        probe = permit is not None and permit.probe
        state = self._cached(model_id)
        if not probe and state.state == "closed" and state.failures == 0:
            return  # the common case: nothing to forget, no lock, no write
        await self._transition(model_id, partial(_on_success, probe=probe, policy=self._policy))

    async def record_failure(self, model_id: str, permit: Permit | None = None) -> None:
        probe = permit is not None and permit.probe
        await self._transition(model_id, partial(_on_failure, probe=probe, policy=self._policy))

    async def _take_probe(self, model_id: str) -> Permit | None:
        state, now = self._cached(model_id), self._clock()
        view = _view(state, now, self._policy)  # again: another task may have moved it
        if view.state == "closed":
            return Permit(probe=False)
        if not view.available:
            return None
        lease = replace(state, state="half_open", probe_until=now + self._policy.probe_lease_s)
        try:
            won = await self._backend.put_if_version(lease, state.version)
        except StorageError as exc:
            _log.warning("breaker probe lease for %s not stored, failing open: %s", model_id, exc)
            return Permit(probe=True)
        if won:
            self._store(lease, state.version + 1, now)
            return Permit(probe=True)
        fresh = await self._reload(model_id)
        if fresh is not None and fresh.state == "closed":
            return Permit(probe=False)
        return None

    async def _transition(self, model_id: str, change: Transition) -> None:
        """Apply ``change`` with a conditional write; on conflict re-read once and retry."""
        async with self._lock(model_id):
            state = self._cached(model_id)
            for attempt in range(2):
                now = self._clock()
                new = change(state, now)
                if new is None:
                    return
                try:
                    won = await self._backend.put_if_version(new, state.version)
                except StorageError as exc:
                    _log.warning("breaker write for %s failed, state kept: %s", model_id, exc)
                    return
                if won:
                    self._store(new, state.version + 1, now)
                    if new.state == "open" and self._on_open is not None:
                        self._on_open(model_id)
                    return
                if attempt == 1:
                    break
                fresh = await self._reload(model_id)
                if fresh is None:
                    return
                state = fresh
            _log.info("breaker transition for %s dropped after a second conflict", model_id)

    async def _reload(self, model_id: str) -> BreakerState | None:
        """Re-read one model after a version conflict; None if storage failed."""
        try:
            found = await self._backend.get_many([model_id])
        except StorageError as exc:
            _log.warning("breaker re-read for %s failed: %s", model_id, exc)
            return None
        state = found.get(model_id, BreakerState(model_id))
        self._cache[model_id] = (state, self._clock())
        return state

    def _store(self, state: BreakerState, version: int, now: float) -> None:
        self._cache[state.model_id] = (replace(state, version=version), now)

    def _cached(self, model_id: str) -> BreakerState:
        entry = self._cache.get(model_id)
        return entry[0] if entry is not None else BreakerState(model_id)

    def _is_stale(self, model_id: str, now: float) -> bool:
        entry = self._cache.get(model_id)
        return entry is None or now - entry[1] >= self._policy.cache_ttl_s

    def _lock(self, model_id: str) -> asyncio.Lock:
        """Serialises this instance's transitions of one model (fewer self-conflicts).

        Locks are bound to one event loop; a new running loop starts a fresh set."""
        loop = asyncio.get_running_loop()
        if loop is not self._locks_loop:
            self._locks, self._locks_loop = {}, loop
        return self._locks.setdefault(model_id, asyncio.Lock())


def _window_expired(state: BreakerState, now: float, policy: BreakerPolicy) -> bool:
    return now - state.window_start >= policy.window_s


def _retry_at(state: BreakerState, policy: BreakerPolicy) -> float:
    if state.state == "half_open" and state.probe_until is not None:
        return state.probe_until
    return (state.opened_at or 0.0) + policy.cooldown_s


def _view(state: BreakerState, now: float, policy: BreakerPolicy) -> BreakerView:
    if state.state == "closed":
        failures = 0 if _window_expired(state, now, policy) else state.failures
        return BreakerView(state="closed", available=True, retry_at=None, failures=failures)
    retry_at = _retry_at(state, policy)
    return BreakerView(state.state, now >= retry_at, retry_at, state.failures)


def _closed(state: BreakerState, now: float) -> BreakerState:
    return replace(
        state, state="closed", failures=0, window_start=now, opened_at=None, probe_until=None
    )


def _on_success(
    state: BreakerState, now: float, *, probe: bool, policy: BreakerPolicy
) -> BreakerState | None:
    """Closed: forget failures still in the window. Probe: close. Otherwise nothing."""
    if state.state == "closed":
        if state.failures == 0 or _window_expired(state, now, policy):
            return None
        return _closed(state, now)
    return _closed(state, now) if probe else None


def _on_failure(
    state: BreakerState, now: float, *, probe: bool, policy: BreakerPolicy
) -> BreakerState | None:
    """Closed: count in the window, open at the threshold. Probe: reopen. Otherwise nothing
    (a call let through before the breaker opened adds nothing to an open breaker)."""
    if state.state == "closed":
        fresh_window = state.failures == 0 or _window_expired(state, now, policy)
        failures = 1 if fresh_window else state.failures + 1
        window_start = now if fresh_window else state.window_start
        if failures >= policy.failure_threshold:
            return replace(
                state,
                state="open",
                failures=failures,
                window_start=window_start,
                opened_at=now,
                probe_until=None,
            )
        return replace(state, failures=failures, window_start=window_start)
    if probe:
        return replace(state, state="open", opened_at=now, probe_until=None)
    return None
