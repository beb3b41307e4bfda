"""What an exact hit leaves for its repeats (``api/fast_hits.py``).

The edge's fast path serves a byte-for-byte repeat of a request the normal path answered
as an exact hit without running the pipeline again. To do so safely it needs what that
hit was made of: the cache key and the very entry served, and who was admitted under
which policy objects. The fast path puts a :class:`RepeatSlot` in :data:`repeat_slot` for
the requests it may serve later; the generate use case's hit path fills it
(:func:`note_hit`) when the hit is exact and nothing about it depended on the request
beyond its key (no guardrail ran or flagged: a check or a redaction must run each time).
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from orchestra.cache.policy import Lookup
    from orchestra.cache.records import CachedAnswer


@dataclass(frozen=True, slots=True)
class RepeatHit:
    """One exact hit as the normal path made it: checked again on every repeat."""

    #: the canonical cache key, and the entry served (a repeat is served only while the
    #: LRU still holds this very object under the key: a refreshed entry goes the normal way)
    key: str
    answer: CachedAnswer
    #: the request's ``max_age`` (from its body; its headers had none)
    max_age: int | None
    #: who was served: the spend row's key and team, and the policy objects admitted
    #: (identity: a policy re-read or changed since goes the normal way)
    key_id: str
    team: str | None
    policy: Any
    team_policy: Any


@dataclass(slots=True)
class RepeatSlot:
    """Filled by the hit path of a request the fast path may repeat."""

    hit: RepeatHit | None = None


#: the current request's slot (None: not a request the fast path repeats)
repeat_slot: ContextVar[RepeatSlot | None] = ContextVar("orchestra_repeat_slot", default=None)


def note_hit(lookup: Lookup, answer: CachedAnswer, policy: Any, team_policy: Any) -> None:
    """Record an exact hit in the request's slot, when it has one."""
    slot = repeat_slot.get()
    report = lookup.report
    if slot is None or report.outcome != "hit" or report.match != "exact":
        return
    slot.hit = RepeatHit(
        lookup.key,
        answer,
        lookup.plan.max_age,
        lookup.key_id,
        lookup.team,
        policy,
        team_policy,
    )
