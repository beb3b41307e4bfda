"""What a ledger backend applies: one atomic, conditional change to one scope's item.

The ledger's logic (``governance/ledger.py``) decides every change; a backend (memory in
``governance/memory.py``, DynamoDB in ``storage/governance.py``) applies a
:class:`LedgerUpdate` whole or not at all, and nothing more.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol


class Ceiling(NamedTuple):
    """A condition of a reservation: ``attr`` absent or ``<= bound`` before the update
    (DynamoDB conditions cannot add, so the bound is the limit minus the amount)."""

    attr: str
    bound: int
    #: day, month, rpm or tpm (for the refusal; backends ignore it)
    which: str


@dataclass(frozen=True, slots=True)
class LedgerUpdate:
    """One atomic change to one scope's item; applied whole or not at all."""

    add: dict[str, int]
    ceilings: tuple[Ceiling, ...] = ()
    #: (hold attribute, record) to write
    set_hold: tuple[str, dict[str, Any]] | None = None
    #: a hold attribute to remove; the update applies only while it exists
    remove_hold: str | None = None
    #: stale window counters to drop
    remove: frozenset[str] = frozenset()
    #: the item's TTL (``expires_at``), refreshed by reservations
    expires_at: int | None = None


class LedgerBackend(Protocol):
    """Applies :class:`LedgerUpdate` atomically to one item (pk = ``key#<id>``/``team#<id>``)."""

    calls: int

    async def update(self, pk: str, change: LedgerUpdate) -> tuple[bool, dict[str, Any]]:
        """``(True, item after)`` when every condition held, else ``(False, item as it
        was)`` with nothing changed (``{}`` when there is no item)."""
        ...

    async def read(self, pk: str) -> dict[str, Any]:
        """The item as it is now (strongly consistent), ``{}`` when absent."""
        ...
