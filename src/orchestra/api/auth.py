"""Client authentication: ``Authorization: Bearer <key>``, as the OpenAI SDK sends it.

A key that checks out names a :class:`~orchestra.caller.Principal`: its id is what budgets,
limits and spend are counted against, and never the key itself (docs/governance.md,
"Identity"). Ids: a client-keys secret's names (``{name: key}``); keys given in
``ORCHESTRA_API_KEYS`` are ``key-<8 hex>`` and ``ORCHESTRA_ADMIN_KEYS`` ``admin-<8 hex>``
(the first 8 hex of the key's BLAKE2b digest: stable across restarts, not reversible).
Behind API Gateway's authorizer the key was checked there: its ``principalId`` (the
client's name) is the id.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

from orchestra.caller import ANONYMOUS_PRINCIPAL, Principal
from orchestra.errors import Unauthorized

#: client names to keys (the client-keys secret's shape)
KeyLoader = Callable[[], Awaitable[Mapping[str, str]]]

#: where :func:`gateway_principal` finds an id already taken out of the event
PRINCIPAL_SCOPE_KEY = "orchestra.principal"


def key_digest(key: str) -> bytes:
    """Keys are compared as digests: equal length, so ``compare_digest`` leaks nothing."""
    return hashlib.sha256(key.encode("utf-8")).digest()


def key_id_of(key: str, prefix: str = "key") -> str:
    """A configured key's id: ``<prefix>-`` and the first 8 hex of its BLAKE2b digest."""
    return f"{prefix}-{hashlib.blake2b(key.encode(), digest_size=4).hexdigest()}"


def principals_of(keys: Iterable[str] = (), admin_keys: Iterable[str] = ()) -> dict[str, Principal]:
    """Each configured key with its principal (an admin key wins over the same client key)."""
    found = {k: Principal(key_id_of(k)) for k in keys}
    found.update({k: Principal(key_id_of(k, "admin"), admin=True) for k in admin_keys})
    return found


def event_principal(event: Any) -> str | None:
    """The authorizer's ``principalId`` in an API Gateway proxy event: REST v1
    ``requestContext.authorizer.principalId``; HTTP API v2 ``requestContext.authorizer
    .lambda.principalId`` (a Lambda authorizer's context) or its ``principalId``."""
    context = event.get("requestContext") if isinstance(event, dict) else None
    authorizer = context.get("authorizer") if isinstance(context, dict) else None
    if not isinstance(authorizer, dict):
        return None
    found = authorizer.get("principalId")
    if found is None and isinstance(authorizer.get("lambda"), dict):
        found = authorizer["lambda"].get("principalId") or authorizer["lambda"].get("client")
    return found if isinstance(found, str) and found else None


def gateway_principal(scope: Mapping[str, Any]) -> str | None:
    """The authorizer's principal for an ASGI request translated from a Lambda event
    (``aws_lambda/events.scope_and_body`` puts it in the scope; Mangum keeps the event)."""
    found = scope.get(PRINCIPAL_SCOPE_KEY)
    if found is None and "aws.event" in scope:
        found = event_principal(scope["aws.event"])
    return found if isinstance(found, str) else None


class ApiKeyAuth:
    """Accepts any configured key; compares digests in constant time.

    ``open_access`` (no keys configured, local serve only) accepts every request as the
    anonymous principal; the CLI says so loudly at start-up. ``trust_gateway``: API
    Gateway's authorizer checked the key; the principal is its ``principalId``.
    """

    def __init__(
        self,
        keys: frozenset[str] | None = None,
        *,
        admin_keys: frozenset[str] | None = None,
        loader: KeyLoader | None = None,
        refresh_s: float = 300.0,
        open_access: bool = False,
        trust_gateway: bool = False,
    ) -> None:
        self._static = principals_of(keys or (), admin_keys or ())
        self._entries = self._digested(self._static)
        self._loader = loader
        self._refresh_s = refresh_s
        self._loaded_at = float("-inf")
        self.trust_gateway = trust_gateway
        self.open_access = trust_gateway or (open_access and not self._static and loader is None)

    @staticmethod
    def _digested(principals: Mapping[str, Principal]) -> list[tuple[bytes, Principal]]:
        return [(key_digest(k), p) for k, p in principals.items()]

    async def _refresh(self) -> None:
        if self._loader is None or time.monotonic() - self._loaded_at < self._refresh_s:
            return
        named = {key: Principal(name) for name, key in (await self._loader()).items()}
        self._entries = self._digested({**named, **self._static})
        self._loaded_at = time.monotonic()

    async def check(self, authorization: str | None, principal_id: str | None = None) -> Principal:
        """The principal ``authorization`` names; :class:`Unauthorized` when it names none.
        ``principal_id``: the authorizer's, used only when the gateway is trusted."""
        if self.trust_gateway:
            return Principal(principal_id) if principal_id else ANONYMOUS_PRINCIPAL
        if self.open_access:
            return ANONYMOUS_PRINCIPAL
        scheme, _, token = (authorization or "").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise Unauthorized(
                "Missing API key: send 'Authorization: Bearer <key>'", code="missing_api_key"
            )
        await self._refresh()
        presented = key_digest(token)
        matched: Principal | None = None
        for digest, principal in self._entries:  # every entry compared: constant time
            if hmac.compare_digest(presented, digest) and matched is None:
                matched = principal
        if matched is None:
            raise Unauthorized("Incorrect API key provided")
        return matched
