"""OpenAI's ``x-ratelimit-*`` headers from the ledger's minute counters."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from orchestra.governance.protocols import RateState
from orchestra.governance.records import Limits
from orchestra.governance.windows import REQUESTS_PREFIX, TOKENS_PREFIX, duration_text


def rate_state(limits: Limits, item: Mapping[str, Any], minute: int, now: float) -> RateState:
    """A scope's limits and what its item's counters for ``minute`` leave of them."""
    state = RateState(reset_s=60.0 - now % 60)
    if limits.rpm is not None:
        used = int(item.get(f"{REQUESTS_PREFIX}{minute}", 0))
        state.limit_requests = limits.rpm
        state.remaining_requests = max(limits.rpm - used, 0)
    if limits.tpm is not None:
        used = int(item.get(f"{TOKENS_PREFIX}{minute}", 0))
        state.limit_tokens = limits.tpm
        state.remaining_tokens = max(limits.tpm - used, 0)
    return state


def rate_headers(states: Sequence[RateState]) -> dict[str, str]:
    """OpenAI's ``x-ratelimit-*`` headers from the tightest scope of each kind (the one
    with the fewest requests, or tokens, left); none for a kind nobody limits."""
    headers: dict[str, str] = {}
    requests = [s for s in states if s.limit_requests is not None]
    if requests:
        tight = min(requests, key=lambda s: s.remaining_requests or 0)
        headers["x-ratelimit-limit-requests"] = str(tight.limit_requests)
        headers["x-ratelimit-remaining-requests"] = str(max(tight.remaining_requests or 0, 0))
        headers["x-ratelimit-reset-requests"] = duration_text(tight.reset_s)
    tokens = [s for s in states if s.limit_tokens is not None]
    if tokens:
        tight = min(tokens, key=lambda s: s.remaining_tokens or 0)
        headers["x-ratelimit-limit-tokens"] = str(tight.limit_tokens)
        headers["x-ratelimit-remaining-tokens"] = str(max(tight.remaining_tokens or 0, 0))
        headers["x-ratelimit-reset-tokens"] = duration_text(tight.reset_s)
    return headers
