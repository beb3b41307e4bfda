"""Admission: what governance decided about a request once its key was checked.

The routes' preamble (``api/deps.authorized``) asks the :class:`Governor` to admit the
request's principal and puts the :class:`Admission` in :data:`current_admission`, a context
variable: every upstream call below it (``governance/metering.MeteredProvider``), the
request policies (``governance/policies``) and the response headers read it there, without
each layer in between passing it along. Tasks started for the request (a hedge, the fan-out)
inherit the same object, so the request's first hold is counted once.

Policies are read through a per-instance cache (``policy_cache_s``): a warm instance reads
nothing per request. A policy store that cannot be read refuses the request with a 503
(:class:`~orchestra.errors.StorageError`): a budget is never silently skipped (fail closed).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeVar

from orchestra.caller import Principal
from orchestra.errors import OrchestraError, StorageError
from orchestra.governance.headers import rate_headers
from orchestra.governance.ledger import Scope
from orchestra.governance.protocols import RateState
from orchestra.governance.records import GuardrailMode, KeyPolicy, Limits, Nanos, TeamPolicy

if TYPE_CHECKING:
    from orchestra.config import Settings
    from orchestra.governance.protocols import PolicyStore

log = logging.getLogger("orchestra.governance")
T = TypeVar("T")


class LedgerLike(Protocol):
    """What metering needs of ``governance/ledger.Ledger`` (its hold, settle and release)."""

    async def hold(
        self, scopes: Sequence[Any], nanos: Nanos, tokens: int, *, count_request: bool
    ) -> tuple[Any, list[RateState]]: ...

    async def settle(self, hold: Any, nanos: Nanos, tokens: int) -> None: ...

    async def release(self, hold: Any) -> None: ...


#: ``ledger.Scope(kind, id, limits)``: the ledger's scope record, made by its own class
ScopeFactory = Callable[[Literal["key", "team"], str, Limits], Any]
RateHeaders = Callable[[Sequence[RateState]], dict[str, str]]


@dataclass(frozen=True, slots=True)
class GuardrailModes:
    """A key's guardrails, resolved: its policy's choices over the gateway's settings."""

    injection: GuardrailMode = "off"
    secrets: GuardrailMode = "off"
    size: GuardrailMode = "off"
    max_message_chars: int = 100_000
    redact_output: bool = False

    @property
    def checks_input(self) -> bool:
        return self.injection != "off" or self.secrets != "off" or self.size != "off"


def settings_modes(settings: Settings) -> GuardrailModes:
    return GuardrailModes(
        settings.guardrail_injection,
        settings.guardrail_secrets,
        settings.guardrail_size,
        settings.guardrail_max_message_chars,
        settings.redact_output,
    )


def resolved_modes(defaults: GuardrailModes, key: KeyPolicy | None) -> GuardrailModes:
    """``defaults`` with every field the key's policy sets taken from it."""
    if key is None:
        return defaults
    own = key.guardrails
    return GuardrailModes(
        own.injection or defaults.injection,
        own.secrets or defaults.secrets,
        own.size or defaults.size,
        own.max_message_chars or defaults.max_message_chars,
        defaults.redact_output if own.redact_output is None else own.redact_output,
    )


@dataclass(slots=True, eq=False)
class Admission:
    """One request's governance: who, under which policies, metered by which ledger.

    Mutable, shared by the request's tasks: ``counted`` (its first hold, which also counts
    the request against rpm/tpm, is taken), ``rate`` (the latest rate counters, for the
    headers), ``flags`` (guardrail flags, ``injection:flag``), ``checked`` (input checks
    ran)."""

    key_id: str
    key: KeyPolicy | None = None
    team: TeamPolicy | None = None
    #: None: nothing about this request is metered (no upstream call holds anything)
    ledger: LedgerLike | None = None
    scopes: tuple[Any, ...] = ()
    guardrails: GuardrailModes = GuardrailModes()
    counted: bool = False
    checked: bool = False
    rate: list[RateState] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)
    #: the request object the prompt estimate was made for, and the estimate
    prompt: tuple[Any, int] | None = None
    format_rate: RateHeaders = rate_headers

    def flag(self, check: str, action: str) -> None:
        value = f"{check}:{action}"
        if value not in self.flags:
            self.flags.append(value)

    def headers(self) -> dict[str, str]:
        """``x-ratelimit-*`` (once a hold reported counters) and ``x-orchestra-guardrails``."""
        headers = self.format_rate(self.rate) if self.rate else {}
        if self.flags:
            headers["x-orchestra-guardrails"] = ";".join(self.flags)
        return headers


#: the current request's admission (None: governance is off, or no request is being served)
current_admission: ContextVar[Admission | None] = ContextVar("orchestra_admission", default=None)


def admission_headers() -> dict[str, str]:
    """The current admission's response headers (none when governance is off)."""
    admission = current_admission.get()
    return admission.headers() if admission is not None else {}


class PolicyCache:
    """Policies by id, each read at most once per ``ttl_s`` per instance; concurrent
    misses for one id share one read."""

    def __init__(self, ttl_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl_s = ttl_s
        self.clock = clock
        self._found: dict[str, tuple[float, Any]] = {}
        self._reading: dict[str, asyncio.Future[Any]] = {}

    async def get(self, name: str, read: Callable[[], Awaitable[T]]) -> T:
        entry = self._found.get(name)
        if entry is not None and entry[0] > self.clock():
            value: T = entry[1]
            return value
        pending = self._reading.get(name)
        if pending is None:
            pending = asyncio.ensure_future(self._read(name, read))
            self._reading[name] = pending
        return await asyncio.shield(pending)

    async def _read(self, name: str, read: Callable[[], Awaitable[T]]) -> T:
        try:
            value = await read()
        except OrchestraError:
            raise
        except Exception as exc:  # the store's failure, named by type (no content)
            log.error("policy %s could not be read: %s", name, type(exc).__name__)
            raise StorageError("governance policies are unavailable; try again") from exc
        finally:
            self._reading.pop(name, None)
        self._found[name] = (self.clock() + self.ttl_s, value)
        return value

    def forget(self, name: str | None = None) -> None:
        """Drop one cached policy (or all): the admin API's own instance sees a change now."""
        if name is None:
            self._found.clear()
        else:
            self._found.pop(name, None)


class Governor:
    """Admits principals: their policies (cached), ledger scopes and guardrail modes.

    ``policies`` None: no store (guardrails from the settings only); ``ledger`` None:
    nothing is metered. ``scope``: the ledger's ``Scope`` class."""

    def __init__(
        self,
        settings: Settings,
        *,
        policies: PolicyStore | None = None,
        ledger: LedgerLike | None = None,
        scope: ScopeFactory | None = None,
        format_rate: RateHeaders = rate_headers,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.policies = policies
        self.ledger = ledger
        self.scope = scope or Scope
        self.format_rate = format_rate
        self.defaults = settings_modes(settings)
        self.cache = PolicyCache(settings.policy_cache_s, clock)
        self._made: dict[str, tuple[Any, Any, tuple[Any, ...], GuardrailModes]] = {}

    async def admit(self, principal: Principal) -> Admission:
        key_id = principal.key_id
        key = team = None
        store = self.policies
        if store is not None:
            key = await self.cache.get("key#" + key_id, lambda: store.get_key(key_id))
            if key is not None and key.team is not None:
                team_id = key.team
                team = await self.cache.get("team#" + team_id, lambda: store.get_team(team_id))
        scopes, modes = self._resolved(key_id, key, team)
        return Admission(
            key_id,
            key,
            team,
            self.ledger if scopes else None,
            scopes,
            modes,
            format_rate=self.format_rate,
        )

    def _resolved(
        self, key_id: str, key: KeyPolicy | None, team: TeamPolicy | None
    ) -> tuple[tuple[Any, ...], GuardrailModes]:
        """The key's scopes and guardrail modes, made once per cached policy (the cache
        hands out the same policy objects until they expire)."""
        made = self._made.get(key_id)
        if made is not None and made[0] is key and made[1] is team:
            return made[2], made[3]
        scopes = self._scopes(key_id, key, team) if self.ledger is not None else ()
        modes = resolved_modes(self.defaults, key)
        if len(self._made) >= 10_000:  # a bound, not an eviction policy: ids are few
            self._made.clear()
        self._made[key_id] = (key, team, scopes, modes)
        return scopes, modes

    def _scopes(
        self, key_id: str, key: KeyPolicy | None, team: TeamPolicy | None
    ) -> tuple[Any, ...]:
        """The scopes a call holds against: the key's and its team's, when either limits
        anything (a per-request cap alone costs no ledger I/O: the ledger checks it)."""
        found = []
        if key is not None and _limits_anything(key):
            found.append(self.scope("key", key_id, key))
        if team is not None and _limits_anything(team):
            found.append(self.scope("team", team.team_id, team))
        return tuple(found)


def _limits_anything(limits: Limits) -> bool:
    return limits.metered or limits.max_request_usd is not None


@contextlib.asynccontextmanager
async def admitted_as(governor: Governor | None, key_id: str | None) -> AsyncIterator[None]:
    """The block's model calls admitted as ``key_id``: a workflow step (a debate turn, a
    chain step, a batch chunk) runs later and elsewhere than the request that started it,
    so it is admitted again as the key that created the run (its budget, limits and
    spend). No key (a run started before governance, or by none) is ``anonymous``; no
    governor (governance off) admits nothing."""
    if governor is None:
        yield
        return
    admission = await governor.admit(Principal(key_id or "anonymous"))
    token = current_admission.set(admission)
    try:
        yield
    finally:
        current_admission.reset(token)
