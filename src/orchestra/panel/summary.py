"""A failed call in a few words, for a fan-out result, a debate turn or a fusion note."""

from __future__ import annotations

from orchestra.errors import OrchestraError, ProviderError


def summary(error: OrchestraError | None) -> str:
    """The error's short, key-free description (``ServerError 503``) or its code."""
    if error is None:
        return "unknown"
    return error.summary() if isinstance(error, ProviderError) else error.code
