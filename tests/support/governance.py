"""In-test stand-ins for the governance pieces built elsewhere: a ledger with the real one's
hold/settle/release signatures (in memory, under an asyncio lock), a policy store, a spend
backend, and guardrails that match a few fixed patterns."""

from __future__ import annotations

import asyncio
import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from orchestra.errors import BudgetExceeded, GuardrailBlocked, RequestRateLimited
from orchestra.governance.admission import GuardrailModes
from orchestra.governance.protocols import RateState, SpendRow
from orchestra.governance.records import KeyPolicy, Nanos, TeamPolicy, to_nanos
from orchestra.schemas.chat import ChatRequest


@dataclass(frozen=True)
class FakeHold:
    hold_id: str
    scopes: tuple[Any, ...]
    nanos: Nanos
    tokens: int


@dataclass
class FakeLedger:
    """Day budget and rpm per scope; committed = settled + held, as the real ledger."""

    hold_delay: float = 0.0
    committed: dict[str, Nanos] = field(default_factory=dict)
    requests: dict[str, int] = field(default_factory=dict)
    live: dict[str, FakeHold] = field(default_factory=dict)
    holds: list[FakeHold] = field(default_factory=list)
    counted: list[bool] = field(default_factory=list)
    settled: list[tuple[Nanos, int]] = field(default_factory=list)
    released: list[str] = field(default_factory=list)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    _ids: Any = field(default_factory=itertools.count)

    async def hold(
        self, scopes: Sequence[Any], nanos: Nanos, tokens: int, *, count_request: bool
    ) -> tuple[FakeHold, list[RateState]]:
        if self.hold_delay:
            await asyncio.sleep(self.hold_delay)
        async with self.lock:
            states = [self._admit(s, nanos, count_request) for s in scopes]
            for scope in scopes:
                name = f"{scope.kind}:{scope.id}"
                self.committed[name] = self.committed.get(name, 0) + nanos
                self.requests[name] = self.requests.get(name, 0) + int(count_request)
            hold = FakeHold(f"h{next(self._ids)}", tuple(scopes), nanos, tokens)
            self.live[hold.hold_id] = hold
            self.holds.append(hold)
            self.counted.append(count_request)
            return hold, [s for s in states if s is not None]

    def _admit(self, scope: Any, nanos: Nanos, count: bool) -> RateState | None:
        name, limits = f"{scope.kind}:{scope.id}", scope.limits
        if limits.budget_day_usd is not None:
            budget = to_nanos(limits.budget_day_usd)
            if self.committed.get(name, 0) + nanos > budget:
                raise BudgetExceeded(
                    f"Budget {name}:day exceeded",
                    budget=f"{name}:day",
                    resets_at="2026-12-02T00:00:00Z",
                    retry_after=3600,
                    headers={"x-ratelimit-remaining-requests": "0"},
                )
        if limits.rpm is None:
            return None
        used = self.requests.get(name, 0) + int(count)
        if used > limits.rpm:
            raise RequestRateLimited(
                f"Rate limit {name}:rpm reached", limit=f"{name}:rpm", retry_after=12
            )
        return RateState(
            limit_requests=limits.rpm, remaining_requests=limits.rpm - used, reset_s=12
        )

    async def settle(self, hold: FakeHold, nanos: Nanos, tokens: int) -> None:
        async with self.lock:
            self.live.pop(hold.hold_id)
            for scope in hold.scopes:
                name = f"{scope.kind}:{scope.id}"
                self.committed[name] += nanos - hold.nanos
            self.settled.append((nanos, tokens))

    async def release(self, hold: FakeHold) -> None:
        async with self.lock:
            self.live.pop(hold.hold_id)
            for scope in hold.scopes:
                self.committed[f"{scope.kind}:{scope.id}"] -= hold.nanos
            self.released.append(hold.hold_id)


@dataclass
class FakePolicies:
    """A policy store in memory that counts its reads (and can be made to fail)."""

    keys: dict[str, KeyPolicy] = field(default_factory=dict)
    teams: dict[str, TeamPolicy] = field(default_factory=dict)
    reads: int = 0
    failing: bool = False
    delay: float = 0.0

    async def get_key(self, key_id: str) -> KeyPolicy | None:
        self.reads += 1
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.failing:
            raise ConnectionError("table unreachable")
        return self.keys.get(key_id)

    async def get_team(self, team_id: str) -> TeamPolicy | None:
        self.reads += 1
        if self.failing:
            raise ConnectionError("table unreachable")
        return self.teams.get(team_id)

    async def put_key(self, policy: KeyPolicy) -> None:
        self.keys[policy.key_id] = policy

    async def delete_key(self, key_id: str) -> bool:
        return self.keys.pop(key_id, None) is not None

    async def list_keys(self, team: str | None = None) -> list[KeyPolicy]:
        return [k for k in self.keys.values() if team is None or k.team == team]

    async def put_team(self, policy: TeamPolicy) -> None:
        self.teams[policy.team_id] = policy

    async def list_teams(self) -> list[TeamPolicy]:
        return list(self.teams.values())


@dataclass
class FakeSpend:
    rows: list[SpendRow] = field(default_factory=list)

    async def add(self, row: SpendRow) -> None:
        self.rows.append(row)

    async def query(self, day_from: str, day_to: str, key_id: str | None = None) -> list[SpendRow]:
        return list(self.rows)


# --- guardrails -----------------------------------------------------------------------

INJECTION = re.compile(r"ignore (all )?previous instructions", re.I)
SECRET = re.compile(r"sk-[A-Za-z0-9]{16,}")
EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.]+")


@dataclass(frozen=True)
class Finding:
    check: str
    rule: str
    action: str
    score: float | None = None


class FakeInputChecks:
    """Injection and secrets checks on two fixed patterns, in the modes given."""

    def __init__(self, modes: GuardrailModes) -> None:
        self.modes = modes

    def check(self, texts: Sequence[tuple[str, str]]) -> list[Finding]:
        found = []
        for check, rule, pattern, mode in (
            ("injection", "ignore_previous", INJECTION, self.modes.injection),
            ("secrets", "openai_key", SECRET, self.modes.secrets),
        ):
            if mode == "off" or not any(pattern.search(t) for _, t in texts):
                continue
            if mode == "block":
                raise GuardrailBlocked(f"blocked by {check}:{rule}", rule=f"{check}:{rule}")
            found.append(Finding(check, rule, mode))
        return found


def texts_of(request: ChatRequest) -> list[tuple[str, str]]:
    return [(m.role, m.content) for m in request.messages if isinstance(m.content, str)]


class FakeStreamRedactor:
    """Holds back ``lookbehind`` characters; never releases part of a match."""

    def __init__(self, lookbehind: int) -> None:
        self.lookbehind = lookbehind
        self.pending = ""
        self.rules: list[str] = []

    def feed(self, text: str) -> str:
        self.pending += text
        cut = max(len(self.pending) - self.lookbehind, 0)
        for match in EMAIL.finditer(self.pending):
            if match.start() < cut < match.end():
                cut = match.start()
        released, self.pending = self.pending[:cut], self.pending[cut:]
        return self._redact(released)

    def flush(self) -> str:
        released, self.pending = self.pending, ""
        return self._redact(released)

    def _redact(self, text: str) -> str:
        text, hits = EMAIL.subn("[REDACTED:email]", text)
        self.rules += ["email"] * hits
        return text


class FakeRedactor:
    def redact(self, text: str) -> tuple[str, list[str]]:
        redacted, hits = EMAIL.subn("[REDACTED:email]", text)
        return redacted, ["email"] * hits

    def stream(self, lookbehind: int) -> FakeStreamRedactor:
        return FakeStreamRedactor(lookbehind)


@dataclass
class Verdict:
    intervened: bool
    text: str | None = None
    rules: list[str] = field(default_factory=list)


class FakeBedrock:
    """Blocks inputs naming ``forbidden``; filters answers containing it."""

    async def check_input(self, texts: Sequence[tuple[str, str]]) -> None:
        if any("forbidden" in t for _, t in texts):
            raise GuardrailBlocked("blocked by bedrock:TOPIC", rule="bedrock:TOPIC")

    async def check_output(self, text: str) -> Verdict:
        if "forbidden" in text:
            return Verdict(True, "Sorry, I can't share that.", ["bedrock:CONTENT"])
        return Verdict(False)


@dataclass
class AuditLog:
    lines: list[tuple[str, str, str, str]] = field(default_factory=list)

    def __call__(self, key_id: str, check: str, rule: str, action: str) -> None:
        self.lines.append((key_id, check, rule, action))
