"""Key and team policies: the records an operator writes (``orchestra keys``, the admin API).

A key belongs to at most one team. Every limit is optional (None: no such limit); money is
USD as ``Decimal`` here and integer nano-dollars (:data:`Nanos`) in the ledger, so sums are
exact to the cent and beyond.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from orchestra.cache.records import CacheSettings

#: what an input guardrail does when it matches
GuardrailMode = Literal["block", "flag", "off"]

#: integer nano-dollars (1e-9 USD): the ledger's unit
Nanos = int
NANOS_PER_USD = 1_000_000_000

#: ids of keys and teams: letters, digits, '-' and '_' (they appear in table keys and headers)
ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"


def to_nanos(usd: Decimal | float | str) -> Nanos:
    """USD to nano-dollars, rounded up (a hold never under-reserves)."""
    value = Decimal(str(usd)) * NANOS_PER_USD
    return int(value.to_integral_value(rounding="ROUND_CEILING"))


def to_usd(nanos: Nanos) -> Decimal:
    return Decimal(nanos) / NANOS_PER_USD


class Limits(BaseModel):
    """The limits a key or a team may have; None: none of that kind."""

    model_config = ConfigDict(extra="forbid")

    budget_day_usd: Decimal | None = Field(default=None, ge=0)
    budget_month_usd: Decimal | None = Field(default=None, ge=0)
    #: no single upstream call may be held above this (its worst-case cost)
    max_request_usd: Decimal | None = Field(default=None, ge=0)
    #: requests per minute and tokens (prompt estimate + output, settled to usage) per minute
    rpm: int | None = Field(default=None, ge=0)
    tpm: int | None = Field(default=None, ge=0)

    @property
    def metered(self) -> bool:
        """Whether anything about this scope is counted (else: no ledger round trip)."""
        return any(
            v is not None for v in (self.budget_day_usd, self.budget_month_usd, self.rpm, self.tpm)
        )


class GuardrailSettings(BaseModel):
    """A key's guardrails; a field left None takes the gateway's default (settings)."""

    model_config = ConfigDict(extra="forbid")

    injection: GuardrailMode | None = None
    secrets: GuardrailMode | None = None
    size: GuardrailMode | None = None
    max_message_chars: int | None = Field(default=None, gt=0)
    redact_output: bool | None = None


class KeyPolicy(Limits):
    """One client key's policy. ``key_id`` is the client's name (the secret's key, the
    authorizer's ``principalId``), never the key itself."""

    key_id: str = Field(pattern=ID_PATTERN)
    team: str | None = Field(default=None, pattern=ID_PATTERN)
    #: may call ``/v1/admin/*`` and read any key's spend
    admin: bool = False
    guardrails: GuardrailSettings = Field(default_factory=GuardrailSettings)
    #: the key's cache defaults (docs/cache.md); fields left None: the gateway's
    cache: CacheSettings = Field(default_factory=CacheSettings)
    created_at: str | None = None
    updated_at: str | None = None


class TeamPolicy(Limits):
    team_id: str = Field(pattern=ID_PATTERN)
    created_at: str | None = None
    updated_at: str | None = None
