"""An in-memory ``PolicyStore`` whose dicts the admin API's tests read directly (the real
``governance/memory.MemoryPolicyStore`` keeps them private), and the stores those tests
build a gateway on."""

from __future__ import annotations

from orchestra.compose.core import Stores
from orchestra.governance.issuer import LocalKeyIssuer
from orchestra.governance.records import KeyPolicy, TeamPolicy
from orchestra.storage.memory import MemoryBreakerBackend, MemoryMetricsBackend
from orchestra.storage.spend import MemorySpendBackend


class FakePolicyStore:
    def __init__(self) -> None:
        self.keys: dict[str, KeyPolicy] = {}
        self.teams: dict[str, TeamPolicy] = {}

    async def get_key(self, key_id: str) -> KeyPolicy | None:
        found = self.keys.get(key_id)
        return found.model_copy(deep=True) if found else None

    async def put_key(self, policy: KeyPolicy) -> None:
        self.keys[policy.key_id] = policy.model_copy(deep=True)

    async def delete_key(self, key_id: str) -> bool:
        return self.keys.pop(key_id, None) is not None

    async def list_keys(self, team: str | None = None) -> list[KeyPolicy]:
        return [p for p in self.keys.values() if team is None or p.team == team]

    async def get_team(self, team_id: str) -> TeamPolicy | None:
        return self.teams.get(team_id)

    async def put_team(self, policy: TeamPolicy) -> None:
        self.teams[policy.team_id] = policy

    async def list_teams(self) -> list[TeamPolicy]:
        return list(self.teams.values())


def admin_stores() -> Stores:
    """Memory stores with this fake's policies, in-memory spend and locally issued keys."""
    return Stores(
        MemoryBreakerBackend(),
        MemoryMetricsBackend(),
        policies=FakePolicyStore(),
        spend=MemorySpendBackend(),
        issuer=LocalKeyIssuer(),
    )
