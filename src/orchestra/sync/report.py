"""What a sync did, for the log line, the metrics, the CLI and the handler's result."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from orchestra.catalog.models import Catalog
from orchestra.routing.profiles import PROFILES
from orchestra.routing.router import Router
from orchestra.sync.merge import Change
from orchestra.sync.records import Skipped
from orchestra.sync.resolve import UNSYNCED_PROVIDERS

TOP = 5


@dataclass
class SyncReport:
    source: str
    origin: str
    fetched_at: str
    records: int
    matched: int
    models_written: int
    changes: list[Change] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    held: list[Skipped] = field(default_factory=list)
    #: source records no catalog model matched, best-rated first where rated
    unmatched: list[str] = field(default_factory=list)
    #: profile -> {"before": top ids, "after": top ids}, for the profiles that changed
    rankings: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    duration_ms: float = 0.0

    def summary(self, limit: int = 20) -> dict[str, Any]:
        """JSON-safe and bounded: counts, the first ``limit`` items of each list."""
        return {
            "source": self.source,
            "origin": self.origin,
            "fetched_at": self.fetched_at,
            "records": self.records,
            "matched": self.matched,
            "models_written": self.models_written,
            "fields_changed": len(self.changes),
            "changes": [
                f"{c.model_id}.{c.field}: {c.old!r} -> {c.new!r}" for c in self.changes[:limit]
            ],
            "skipped": len(self.skipped),
            "skipped_reasons": dict(Counter(s.reason for s in self.skipped).most_common(limit)),
            "held": [f"{h.ref}: {h.reason}" for h in self.held[:limit]],
            "unmatched": self.unmatched[:limit],
            "rankings": self.rankings,
            "duration_ms": round(self.duration_ms, 1),
        }


def ranking_changes(before: Catalog, after: Catalog, top: int = TOP) -> dict[str, Any]:
    """The top of each profile's ranking before and after, where it moved (every provider
    counts: which ones a gateway has keys for is its own business)."""
    providers = {m.provider for m in after} - UNSYNCED_PROVIDERS
    old, new = Router(providers), Router(providers)
    moved: dict[str, Any] = {}
    for profile in PROFILES:
        was = [c.model.id for c in old.rankings(before, profile)[:top]]
        now = [c.model.id for c in new.rankings(after, profile)[:top]]
        if was != now:
            moved[profile] = {"before": was, "after": now}
    return moved
