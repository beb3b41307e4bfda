"""What the generate use case answers: :class:`Generation` (a whole answer) and
:class:`StreamHandle` (a stream, its first chunk in hand), both :class:`Routed`: who
answered, how the route got there, what it cost, what the answer cache did."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from orchestra.catalog.models import ModelInfo
from orchestra.catalog.pricing import cost_usd
from orchestra.resilience.fallback import NO_HEDGE, Attempt, HedgeReport
from orchestra.resilience.retry import Deadline
from orchestra.routing.router import RoutePlan
from orchestra.schemas.chat import ChatChunk, ChatRequest, ChatResponse, Usage

if TYPE_CHECKING:
    from orchestra.cache.policy import Lookup
    from orchestra.cache.records import CacheReport


@dataclass
class Routed:
    """What every answer carries back: who answered, how we got there, what it cost.

    A continued stream (``generate/continuation.py``): ``model`` is the one that finished
    the answer, ``usage`` counts every call, and the calls cut short before it are also
    kept apart (``carried_usage``, ``carried_cost_usd``: each at its own model's price)."""

    plan: RoutePlan
    model: ModelInfo
    attempts: list[Attempt]
    started: float = field(default_factory=time.perf_counter)
    usage: Usage | None = None
    carried_usage: Usage | None = None
    carried_cost_usd: float = 0.0
    #: the hedge started beside a slow first attempt, if one was (``x-orchestra-hedge``)
    hedge: HedgeReport = NO_HEDGE
    #: what the answer cache did (``x-orchestra-cache``); None: it was off for the request
    cache: CacheReport | None = None

    @property
    def cost_usd(self) -> float:
        """Every call's cost, each at its own model's prices, cached and reasoning tokens
        priced as the vendor prices them (``catalog/pricing.py``); 0 for an answer served
        from the gateway's cache (no call was made)."""
        if self.cache is not None and self.cache.served:
            return 0.0
        usage, carried = self.usage, self.carried_usage
        if usage is None:
            return self.carried_cost_usd
        if carried is not None:  # the answering model's own share
            usage = _less(usage, carried)
        return self.carried_cost_usd + cost_usd(self.model, usage)


def _less(usage: Usage, carried: Usage) -> Usage:
    """``usage`` without what ``carried`` counts, detail by detail (none below zero)."""
    return Usage.of(
        max(usage.prompt_tokens - carried.prompt_tokens, 0),
        max(usage.completion_tokens - carried.completion_tokens, 0),
        cached=max(usage.cached_tokens - carried.cached_tokens, 0),
        cache_creation=max(usage.cache_creation_tokens - carried.cache_creation_tokens, 0),
        reasoning=max(usage.reasoning_tokens - carried.reasoning_tokens, 0),
    )


@dataclass
class Generation(Routed):
    response: ChatResponse | None = None


@dataclass
class StreamHandle(Routed):
    first: ChatChunk | None = None
    rest: AsyncIterator[ChatChunk] | None = None
    #: the request's deadline: a stream still running then ends with an error event
    deadline: Deadline | None = None
    #: the request, to continue the answer elsewhere if the stream breaks
    request: ChatRequest | None = None
    #: the answer cache's lookup, to store the answer once relayed whole
    lookup: Lookup | None = None
