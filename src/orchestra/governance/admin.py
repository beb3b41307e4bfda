"""What an operator does to keys and teams (the admin API, ``orchestra keys|teams``).

A key's policy and its key are made and unmade together: create writes the policy, then
issues the key (a failed issue removes the policy again: a key never exists without its
limits); revoke revokes the key first (it stops being accepted), then deletes the policy.
A key's team must exist before the key names it (``PUT /v1/admin/teams/{id}`` first): a
misspelt team would otherwise carry no budget at all.

Errors are the one hierarchy's: 400 naming the parameter, 404 for an unknown key or team,
409 for a key id already taken.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from orchestra.errors import InvalidRequest
from orchestra.governance.issuer import KeyIssuer
from orchestra.governance.protocols import PolicyStore
from orchestra.governance.records import KeyPolicy, Limits, TeamPolicy

#: fields a client may set on a key (the rest are the server's: timestamps)
KEY_FIELDS = frozenset({*Limits.model_fields, "key_id", "team", "admin", "guardrails", "cache"})
TEAM_FIELDS = frozenset({*Limits.model_fields, "team_id"})


def _first_error(exc: ValidationError) -> InvalidRequest:
    """A pydantic error as a 400 naming the first offending parameter."""
    first = exc.errors()[0]
    param = ".".join(str(p) for p in first.get("loc", ())) or None
    message = str(first.get("msg", "invalid")).removeprefix("Value error, ")
    if first.get("type") == "missing":
        return InvalidRequest(f"Missing required parameter: '{param}'", param=param)
    return InvalidRequest(
        f"Invalid value for '{param}': {message}", param=param, code="invalid_value"
    )


def _only(body: Mapping[str, Any], allowed: frozenset[str]) -> None:
    for name in body:
        if name not in allowed:
            raise InvalidRequest(
                f"Unrecognized request argument supplied: {name}",
                param=name,
                code="unknown_parameter",
            )


def not_found(kind: str, name: str) -> InvalidRequest:
    return InvalidRequest(
        f"No {kind} named {name!r}", param=f"{kind}_id", code=f"{kind}_not_found", status=404
    )


class KeyAdmin:
    """Keys and teams over a :class:`PolicyStore` and a :class:`KeyIssuer`."""

    def __init__(
        self,
        store: PolicyStore,
        issuer: KeyIssuer,
        *,
        clock: Callable[[], float] = time.time,
        changed: Callable[[str], None] | None = None,
    ) -> None:
        self.store = store
        self.issuer = issuer
        self._clock = clock
        #: told ``key#<id>`` / ``team#<id>`` after each write: the governor of the same
        #: process forgets its cached copy, so the change applies to the next request
        #: (other instances: within their ``policy_cache_s``)
        self._changed = changed or (lambda name: None)

    def _now(self) -> str:
        return datetime.fromtimestamp(self._clock(), UTC).isoformat(timespec="seconds")

    async def _check_team(self, team: str | None) -> None:
        if team is not None and await self.store.get_team(team) is None:
            raise InvalidRequest(
                f"No team named {team!r}: create it first (PUT /v1/admin/teams/{team})",
                param="team",
                code="team_not_found",
            )

    async def create_key(self, body: Mapping[str, Any]) -> tuple[KeyPolicy, str]:
        """A new key's policy and the key itself (returned once, never stored with it)."""
        _only(body, KEY_FIELDS)
        now = self._now()
        try:
            policy = KeyPolicy.model_validate({**body, "created_at": now, "updated_at": now})
        except ValidationError as exc:
            raise _first_error(exc) from exc
        if await self.store.get_key(policy.key_id) is not None:
            raise InvalidRequest(
                f"Key {policy.key_id!r} already exists",
                param="key_id",
                code="key_exists",
                status=409,
            )
        await self._check_team(policy.team)
        await self.store.put_key(policy)
        self._changed("key#" + policy.key_id)
        try:
            key = await self.issuer.issue(policy.key_id)
        except Exception:
            await self.store.delete_key(policy.key_id)  # no policy without its key
            raise
        return policy, key

    async def get_key(self, key_id: str) -> KeyPolicy:
        policy = await self.store.get_key(key_id)
        if policy is None:
            raise not_found("key", key_id)
        return policy

    async def list_keys(self, team: str | None = None) -> list[KeyPolicy]:
        return sorted(await self.store.list_keys(team), key=lambda p: p.key_id)

    async def update_key(self, key_id: str, patch: Mapping[str, Any]) -> KeyPolicy:
        """Fields given replace the policy's; ``null`` clears a limit (or the team)."""
        _only(patch, KEY_FIELDS - {"key_id"})
        current = await self.get_key(key_id)
        merged = {**current.model_dump(), **patch, "updated_at": self._now()}
        if isinstance(patch.get("cache"), Mapping):  # the fields named; null: the gateway's
            merged["cache"] = {**current.cache.model_dump(), **patch["cache"]}
        try:
            policy = KeyPolicy.model_validate(merged)
        except ValidationError as exc:
            raise _first_error(exc) from exc
        if policy.team != current.team:
            await self._check_team(policy.team)
        await self.store.put_key(policy)
        self._changed("key#" + policy.key_id)
        return policy

    async def revoke_key(self, key_id: str) -> bool:
        """Revoke the key, then delete its policy; False when neither existed."""
        revoked = await self.issuer.revoke(key_id)
        deleted = await self.store.delete_key(key_id)
        self._changed("key#" + key_id)
        return revoked or deleted

    async def put_team(self, team_id: str, body: Mapping[str, Any]) -> tuple[TeamPolicy, bool]:
        """Create or replace a team's limits (a limit left out has none); True if created."""
        _only(body, TEAM_FIELDS)
        if body.get("team_id", team_id) != team_id:
            raise InvalidRequest("team_id differs from the path's", param="team_id")
        current = await self.store.get_team(team_id)
        now = self._now()
        created = current.created_at if current is not None else now
        try:
            team = TeamPolicy.model_validate(
                {**body, "team_id": team_id, "created_at": created, "updated_at": now}
            )
        except ValidationError as exc:
            raise _first_error(exc) from exc
        await self.store.put_team(team)
        self._changed("team#" + team.team_id)
        return team, current is None

    async def get_team(self, team_id: str) -> TeamPolicy:
        team = await self.store.get_team(team_id)
        if team is None:
            raise not_found("team", team_id)
        return team

    async def list_teams(self) -> list[TeamPolicy]:
        return sorted(await self.store.list_teams(), key=lambda t: t.team_id)

    async def is_admin(self, key_id: str) -> bool:
        """Whether ``key_id``'s policy makes it an admin (deployed, the only way to be one)."""
        policy = await self.store.get_key(key_id)
        return policy is not None and policy.admin
