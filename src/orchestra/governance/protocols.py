"""What governance needs from storage, as protocols: an in-memory and a DynamoDB
implementation of each, held to the same contract tests (``tests/unit/storage``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from orchestra.governance.records import KeyPolicy, Nanos, TeamPolicy


class PolicyStore(Protocol):
    """Key and team policies (the governance table's ``policy`` items)."""

    async def get_key(self, key_id: str) -> KeyPolicy | None: ...

    async def put_key(self, policy: KeyPolicy) -> None: ...

    async def delete_key(self, key_id: str) -> bool: ...

    async def list_keys(self, team: str | None = None) -> list[KeyPolicy]: ...

    async def get_team(self, team_id: str) -> TeamPolicy | None: ...

    async def put_team(self, policy: TeamPolicy) -> None: ...

    async def list_teams(self) -> list[TeamPolicy]: ...


@dataclass(frozen=True)
class SpendRow:
    """Settled spend of one key on one model on one UTC day (``day``: ``YYYY-MM-DD``)."""

    day: str
    key_id: str
    team: str | None
    model: str
    cost_nanos: Nanos
    requests: int
    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int = 0
    #: answers served from the gateway's cache (cost 0), and what they would have cost
    cache_hits: int = 0
    saved_nanos: Nanos = 0


class SpendBackend(Protocol):
    """Spend rows in the metrics table (pk ``spend#<day>``, sk ``<key id>#<model>``)."""

    async def add(self, row: SpendRow) -> None:
        """Atomic counter additions to the row (created on first use)."""
        ...

    async def query(self, day_from: str, day_to: str, key_id: str | None = None) -> list[SpendRow]:
        """Every row from ``day_from`` to ``day_to`` (inclusive), one key's when given."""
        ...


@dataclass
class RateState:
    """A scope's rate counters after a hold, for the ``x-ratelimit-*`` headers."""

    limit_requests: int | None = None
    remaining_requests: int | None = None
    limit_tokens: int | None = None
    remaining_tokens: int | None = None
    #: seconds until the minute's counters reset
    reset_s: float = 0.0
    extra: dict[str, str] = field(default_factory=dict)
