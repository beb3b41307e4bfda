"""Who is calling: a short, non-reversible digest of the key the request presented.

Per-caller budgets (hedges per minute) need a stable name for the caller that is not the
key itself: the key must never sit in memory maps, logs or metrics longer than the check.
The digest is set once per request by the routes' preamble (``api/deps.authorized``) in a
context variable, so code far below (the fallback runner) reads it without every layer in
between passing it along; a task started for the request inherits it.
"""

from __future__ import annotations

import hashlib
from contextvars import ContextVar
from dataclasses import dataclass

#: the caller of a request that presented no key (local mode, open access)
ANONYMOUS = "anonymous"

_caller: ContextVar[str] = ContextVar("orchestra_caller", default=ANONYMOUS)


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a request acts for: the key's id (its client name, never the key) and whether it
    may call the admin routes. Budgets, limits and spend are counted against ``key_id``."""

    key_id: str = ANONYMOUS
    admin: bool = False


#: the principal of a request that presented no key (local mode, open access)
ANONYMOUS_PRINCIPAL = Principal()

_principal: ContextVar[Principal] = ContextVar("orchestra_principal", default=ANONYMOUS_PRINCIPAL)


def digest(credentials: str | None) -> str:
    """16 hex characters of BLAKE2b over the presented credentials; ``anonymous`` without."""
    if not credentials:
        return ANONYMOUS
    return hashlib.blake2b(credentials.encode(), digest_size=8).hexdigest()


def set_caller(credentials: str | None) -> None:
    """Name the current request's caller (for the rest of the request's context)."""
    _caller.set(digest(credentials))


def current_caller() -> str:
    return _caller.get()


def set_principal(principal: Principal) -> None:
    """Name the principal the current request acts for (a debate step: its creator)."""
    _principal.set(principal)


def current_principal() -> Principal:
    return _principal.get()
