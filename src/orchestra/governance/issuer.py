"""Issuing client keys: where a key the admin API creates comes from, and what revoking
it undoes.

Deployed (:class:`AwsKeyIssuer`): an API Gateway API key on the usage plan plus an entry
in the client-keys secret that the authorizer reads (``storage.client_keys.ClientKeys``),
so a new key is throttled by the plan and accepted by the authorizer, under its name.
Locally (:class:`LocalKeyIssuer`): keys kept in memory; ``ApiKeyAuth`` accepts them when
composition hands it :meth:`LocalKeyIssuer.load` as its key loader (``{name: key}``, the
secret's shape). Either way the key is returned once, at issue, and never stored in a
policy, a log line or an error.
"""

from __future__ import annotations

import asyncio
import secrets
from typing import TYPE_CHECKING, Protocol

from orchestra.errors import InvalidRequest, OrchestraError

if TYPE_CHECKING:
    from orchestra.storage.client_keys import ClientKeys

#: every key Orchestra issues starts so (secret scanners can recognise them)
KEY_PREFIX = "sk-orch-"


class KeyIssuer(Protocol):
    async def issue(self, key_id: str) -> str:
        """A new key named ``key_id`` (InvalidRequest 409 when that name has one)."""
        ...

    async def revoke(self, key_id: str) -> bool:
        """Revoke ``key_id``'s key; False when it had none."""
        ...


def new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def _taken(key_id: str) -> InvalidRequest:
    return InvalidRequest(
        f"Key {key_id!r} already exists: revoke it first",
        param="key_id",
        code="key_exists",
        status=409,
    )


class LocalKeyIssuer:
    """Keys in memory, for ``orchestra serve`` and tests (gone when the process ends)."""

    def __init__(self) -> None:
        self._keys: dict[str, str] = {}

    async def issue(self, key_id: str) -> str:
        if key_id in self._keys:
            raise _taken(key_id)
        key = self._keys[key_id] = new_key()
        return key

    async def revoke(self, key_id: str) -> bool:
        return self._keys.pop(key_id, None) is not None

    async def load(self) -> dict[str, str]:
        """``{name: key}``: an ``ApiKeyAuth`` key loader (refresh 0: a revoke is immediate)."""
        return dict(self._keys)


class AwsKeyIssuer:
    """API Gateway key + client-keys secret (boto3 calls in a worker thread).

    ``usage_plan``: the plan new keys join, by id or by name (the stack can only pass its
    name); a name is resolved to the plan's id on first use, once per instance."""

    def __init__(self, keys: ClientKeys, usage_plan: str) -> None:
        self.keys = keys
        self.usage_plan = usage_plan
        self._plan_id: str | None = None

    def _resolve_plan(self) -> str:
        if self._plan_id is None:
            pages = self.keys.apigateway.get_paginator("get_usage_plans").paginate()
            plans = [plan for page in pages for plan in page.get("items", [])]
            named = [p["id"] for p in plans if self.usage_plan in (p.get("name"), p["id"])]
            if len(named) != 1:
                # a deployment fault (the stack names its plan), not the client's: a 500
                raise OrchestraError(
                    f"usage plan {self.usage_plan!r} not found", code="usage_plan_not_found"
                )
            self._plan_id = named[0]
        return self._plan_id

    def _create(self, key_id: str) -> str:
        if key_id in self.keys.names():
            raise _taken(key_id)
        return self.keys.create(key_id, self._resolve_plan())

    async def issue(self, key_id: str) -> str:
        return await asyncio.to_thread(self._create, key_id)

    async def revoke(self, key_id: str) -> bool:
        deleted = await asyncio.to_thread(self.keys.revoke, key_id, missing_ok=True)
        return deleted >= 0
