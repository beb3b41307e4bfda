"""The conflict policy: which source may set which field of which model, and the updates.

Each field lists the sources allowed to set it, most trusted first, and how far a value
reaches: the *model* wherever it is served (an arena rating), the *host*s whose offer it
describes (OpenRouter lists a maker's models at the maker's own price, not at Groq's), or
only the model exactly as the source *lists* it (OpenRouter's window for Claude Sonnet 4.5
is 1M because OpenRouter turns on Anthropic's long-context beta; Orchestra's Anthropic
adapter does not, so Anthropic's own window stays as curated). A source never overwrites
a field a more trusted source set, unless that value is older than ``STALE_AFTER``; values
with no recorded source (the snapshot's authors) give way to any sync. Operator config
(``orchestra.yaml``) is applied after all of this and always wins (``CatalogSource``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from orchestra.catalog.models import Catalog, FieldSource, ModelInfo
from orchestra.catalog.source import PROVENANCE_PREFIX
from orchestra.sync.records import Skipped, SourceRecord
from orchestra.sync.resolve import Match

Scope = Literal["model", "host", "listed"]
STALE_AFTER = timedelta(days=30)


@dataclass(frozen=True)
class Claim:
    source: str
    scope: Scope


POLICY: dict[str, tuple[Claim, ...]] = {
    "quality": (Claim("lmarena", "model"),),
    "input_price": (Claim("openrouter", "host"),),
    "output_price": (Claim("openrouter", "host"),),
    "cache_read_price": (Claim("openrouter", "host"),),
    "cache_write_price": (Claim("openrouter", "host"),),
    "max_output_tokens": (Claim("openrouter", "listed"),),
    "capabilities": (Claim("openrouter", "listed"),),
    "context_window": (Claim("openrouter", "listed"), Claim("huggingface", "model")),
    "hf_repo": (Claim("huggingface", "model"), Claim("openrouter", "model")),
}


@dataclass(frozen=True)
class Change:
    model_id: str
    field: str
    old: Any
    new: Any


@dataclass
class Plan:
    #: model id -> the attributes to set (fields and their ``source:<field>`` records)
    updates: dict[str, dict[str, Any]] = field(default_factory=dict)
    changes: list[Change] = field(default_factory=list)
    #: fields a record carried but the policy kept from this model, and why
    held: list[Skipped] = field(default_factory=list)

    def records(self) -> list[dict[str, Any]]:
        return [{"model_id": model_id, **attrs} for model_id, attrs in self.updates.items()]


def plan_updates(catalog: Catalog, matches: list[Match], fetched_at: datetime) -> Plan:
    plan = Plan()
    for match in matches:
        model = catalog.get(match.model_id)
        for name, value in match.record.fields.items():
            reason = _refusal(model, match.record, name, fetched_at)
            if reason:
                plan.held.append(Skipped(f"{model.id}.{name}", reason))
                continue
            origin = FieldSource(
                source=match.record.source,
                ref=match.record.ref,
                at=fetched_at.isoformat(timespec="seconds"),
                match=round(match.score, 1),
            )
            attrs = plan.updates.setdefault(model.id, {})
            attrs[name] = value
            attrs[PROVENANCE_PREFIX + name] = origin.model_dump()
            old = getattr(model, name)
            if _differs(old, value):
                plan.changes.append(Change(model.id, name, _plain(old), value))
    return plan


def _refusal(model: ModelInfo, record: SourceRecord, name: str, now: datetime) -> str | None:
    """Why ``record`` may not set ``name`` on ``model`` (None: it may)."""
    claims = POLICY.get(name, ())
    claim = next((c for c in claims if c.source == record.source), None)
    if claim is None:
        return f"{record.source} is not a source of {name}"
    if claim.scope == "host" and not serves_offer(model, record):
        return f"{record.source}'s {name} is {'/'.join(sorted(record.hosts))}'s, not {model.provider}'s"
    if claim.scope == "listed" and not lists(model, record):
        return f"{record.source}'s {name} is for its own {record.ref}, not {model.provider}'s"
    holder = model.provenance.get(name)
    if holder is None or holder.source == record.source:
        return None
    rank = {c.source: i for i, c in enumerate(claims)}
    if rank.get(holder.source, len(claims)) < rank[record.source] and not _stale(holder, now):
        return f"kept {holder.source}'s value (more trusted for {name})"
    return None


def serves_offer(model: ModelInfo, record: SourceRecord) -> bool:
    """Whether the host-specific fields of ``record`` describe ``model``'s own host: the
    same OpenRouter model, or the maker's own API for a model OpenRouter lists under it."""
    if model.provider == "openrouter":
        return model.upstream == record.ref
    return model.provider in record.hosts


def lists(model: ModelInfo, record: SourceRecord) -> bool:
    """Whether ``model`` is the very model the source lists (OpenRouter's own offer)."""
    return model.provider == record.source and model.upstream == record.ref


def _stale(holder: FieldSource, now: datetime) -> bool:
    try:
        return now - datetime.fromisoformat(holder.at) > STALE_AFTER
    except (TypeError, ValueError):
        return True


def _differs(old: Any, new: Any) -> bool:
    if isinstance(old, frozenset | set | tuple | list) and isinstance(new, list | tuple):
        return set(old) != set(new)
    return bool(old != new)


def _plain(value: Any) -> Any:
    return sorted(value) if isinstance(value, frozenset | set) else value
