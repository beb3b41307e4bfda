"""In-memory policy store and ledger backend, with the DynamoDB ones' semantics.

For ``orchestra serve`` without an AWS account, and the tests. As in ``storage/memory.py``
each operation yields to the event loop once (as a round trip would, so concurrent callers
interleave) and then runs to completion without awaiting: the condition check and the
write cannot be split, which is what DynamoDB guarantees for one item.
"""

from __future__ import annotations

import asyncio
from typing import Any

from orchestra.governance.ledger_backend import LedgerUpdate
from orchestra.governance.records import KeyPolicy, TeamPolicy


class MemoryPolicyStore:
    """``PolicyStore`` over two dicts; policies are copied in and out, like a real store."""

    def __init__(self) -> None:
        self.calls = 0
        self._keys: dict[str, KeyPolicy] = {}
        self._teams: dict[str, TeamPolicy] = {}

    async def _round_trip(self) -> None:
        self.calls += 1
        await asyncio.sleep(0)

    async def get_key(self, key_id: str) -> KeyPolicy | None:
        await self._round_trip()
        policy = self._keys.get(key_id)
        return policy.model_copy(deep=True) if policy is not None else None

    async def put_key(self, policy: KeyPolicy) -> None:
        await self._round_trip()
        self._keys[policy.key_id] = policy.model_copy(deep=True)

    async def delete_key(self, key_id: str) -> bool:
        await self._round_trip()
        return self._keys.pop(key_id, None) is not None

    async def list_keys(self, team: str | None = None) -> list[KeyPolicy]:
        await self._round_trip()
        return [
            self._keys[k].model_copy(deep=True)
            for k in sorted(self._keys)
            if team is None or self._keys[k].team == team
        ]

    async def get_team(self, team_id: str) -> TeamPolicy | None:
        await self._round_trip()
        policy = self._teams.get(team_id)
        return policy.model_copy(deep=True) if policy is not None else None

    async def put_team(self, policy: TeamPolicy) -> None:
        await self._round_trip()
        self._teams[policy.team_id] = policy.model_copy(deep=True)

    async def list_teams(self) -> list[TeamPolicy]:
        await self._round_trip()
        return [self._teams[t].model_copy(deep=True) for t in sorted(self._teams)]


class MemoryLedgerBackend:
    """``LedgerBackend`` over a dict of items (attribute name -> value).

    Hold records are never changed in place (a hold is written once and removed), so
    returning shallow copies of items is as safe as DynamoDB's fresh ones."""

    def __init__(self) -> None:
        self.calls = 0
        self.items: dict[str, dict[str, Any]] = {}

    async def update(self, pk: str, change: LedgerUpdate) -> tuple[bool, dict[str, Any]]:
        self.calls += 1
        await asyncio.sleep(0)
        item = self.items.get(pk)
        if not _admits(item or {}, change):
            return False, dict(item) if item is not None else {}
        if item is None:
            item = self.items[pk] = {}
        for name, amount in change.add.items():
            item[name] = item.get(name, 0) + amount
        if change.set_hold is not None:
            item[change.set_hold[0]] = change.set_hold[1]
        if change.remove_hold is not None:
            del item[change.remove_hold]
        for name in change.remove:
            item.pop(name, None)
        if change.expires_at is not None:
            item["expires_at"] = change.expires_at
        return True, dict(item)

    async def read(self, pk: str) -> dict[str, Any]:
        self.calls += 1
        await asyncio.sleep(0)
        return dict(self.items.get(pk, {}))


def _admits(item: dict[str, Any], change: LedgerUpdate) -> bool:
    if change.remove_hold is not None and change.remove_hold not in item:
        return False
    for ceiling in change.ceilings:
        value = item.get(ceiling.attr)
        if value is not None and value > ceiling.bound:
            return False
    return True
