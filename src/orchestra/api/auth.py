"""Client authentication: ``Authorization: Bearer <key>``, as the OpenAI SDK sends it."""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Awaitable, Callable

from orchestra.errors import Unauthorized

KeyLoader = Callable[[], Awaitable[frozenset[str]]]


def key_digest(key: str) -> bytes:
    """Keys are compared as digests: equal length, so ``compare_digest`` leaks nothing."""
    return hashlib.sha256(key.encode("utf-8")).digest()


class ApiKeyAuth:
    """Accepts any configured key; compares digests in constant time.

    ``open_access`` (no keys configured, local serve only) accepts every request; the CLI
    says so loudly at start-up.
    """

    def __init__(
        self,
        keys: frozenset[str] | None = None,
        *,
        loader: KeyLoader | None = None,
        refresh_s: float = 300.0,
        open_access: bool = False,
    ) -> None:
        self._digests = [key_digest(k) for k in keys or ()]
        self._loader = loader
        self._refresh_s = refresh_s
        self._loaded_at = float("-inf")
        self.open_access = open_access and not keys and loader is None

    async def _refresh(self) -> None:
        if self._loader is None or time.monotonic() - self._loaded_at < self._refresh_s:
            return
        self._digests = [key_digest(k) for k in await self._loader()]
        self._loaded_at = time.monotonic()

    async def check(self, authorization: str | None) -> None:
        if self.open_access:
            return
        scheme, _, token = (authorization or "").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise Unauthorized(
                "Missing API key: send 'Authorization: Bearer <key>'", code="missing_api_key"
            )
        await self._refresh()
        presented = key_digest(token)
        matched = False
        for digest in self._digests:
            matched |= hmac.compare_digest(presented, digest)
        if not matched:
            raise Unauthorized("Incorrect API key provided")
