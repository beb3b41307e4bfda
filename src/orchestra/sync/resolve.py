"""Entity resolution: which source record describes which catalog model.

Two names can match only when their guard tokens are equal (versions, sizes, families,
variants: ``gpt-4o`` never meets ``gpt-4o-mini``, ``llama-3.1-8b`` never ``llama-3.1-70b``).
Among those, the rest of the name is compared with rapidfuzz's ``token_sort_ratio``
(word order and spelling: ``claude-3.5-haiku`` / ``claude-haiku-3.5``, ``deep-seek`` /
``deepseek``) against a threshold, so an unknown extra word (``nemotron``, ``hermes``)
keeps two models apart. Explicit aliases (``sync.aliases``) come first.

Several snapshots of one model can match: the one with the model's own snapshot wins, then
the undated name for an undated model, then the latest snapshot. Above all of these, a
record *about* the model's Hugging Face repository (the Hub's own record) is that model.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from rapidfuzz import fuzz

from orchestra.catalog.models import Catalog, ModelInfo
from orchestra.sync.aliases import expand
from orchestra.sync.names import Name, parse_name
from orchestra.sync.records import SourceRecord

DEFAULT_THRESHOLD = 90.0
#: providers whose models are not real models (never synced)
UNSYNCED_PROVIDERS = frozenset({"simulator"})


@dataclass(frozen=True)
class Match:
    model_id: str
    record: SourceRecord
    #: 0..100: 100 for the same normalised name or an explicit alias
    score: float
    #: which of the catalog model's names matched which of the record's
    via: tuple[str, str]


def model_names(model: ModelInfo) -> list[str]:
    """Every name a catalog model goes by: its id's model part, upstream name, aliases,
    Hugging Face repository, and their explicit aliases."""
    raw = [model.id.split("/", 1)[1], model.upstream, *model.aliases]
    if model.hf_repo:
        raw.append(model.hf_repo)
    return list(dict.fromkeys(n for name in raw for n in expand(name)))


def _snapshot_order(name: Name) -> int:
    if "latest" in name.snapshot:
        return 99_999_999
    digits = "".join(c for c in name.snapshot if c.isdigit())
    return int(digits.ljust(8, "0")[:8]) if digits else 0


def _tier(target: Name, candidate: Name) -> int:
    if target.snapshot and candidate.snapshot == target.snapshot:
        return 3
    if not target.snapshot and not candidate.snapshot:
        return 2
    return 1


class Resolver:
    def __init__(
        self, records: Iterable[SourceRecord], *, threshold: float = DEFAULT_THRESHOLD
    ) -> None:
        self.threshold = threshold
        self._buckets: dict[frozenset[str], list[tuple[Name, SourceRecord]]] = defaultdict(list)
        self._by_repo: dict[str, SourceRecord] = {}
        for record in records:
            if record.source == "huggingface":
                self._by_repo[record.ref.lower()] = record
            for raw in dict.fromkeys((record.ref, *record.names)):
                name = parse_name(raw)
                if name.core:
                    self._buckets[name.guard].append((name, record))

    def match(self, model: ModelInfo) -> Match | None:
        """The record describing ``model``, or None when none is close enough."""
        repo = (model.hf_repo or "").lower()
        if repo in self._by_repo:
            record = self._by_repo[repo]
            return Match(model.id, record, 100.0, (model.hf_repo or "", record.ref))
        best: tuple[tuple[float, int, int], Match] | None = None
        for raw in model_names(model):
            target = parse_name(raw)
            for name, record in self._buckets.get(target.guard, ()):
                score = self.similarity(target, name)
                if score < self.threshold:
                    continue
                rank = (score, _tier(target, name), _snapshot_order(name))
                if best is None or rank > best[0]:
                    best = (rank, Match(model.id, record, score, (raw, name.raw)))
        return best[1] if best else None

    def resolve(self, catalog: Catalog) -> list[Match]:
        found = (self.match(m) for m in catalog if m.provider not in UNSYNCED_PROVIDERS)
        return [m for m in found if m is not None]

    @staticmethod
    def similarity(a: Name, b: Name) -> float:
        """0 unless the guard tokens agree; then 100 for equal names, else the fuzzy ratio."""
        if a.guard != b.guard or not a.core or not b.core:
            return 0.0
        if a.sorted_key == b.sorted_key:
            return 100.0
        return float(fuzz.token_sort_ratio(a.key, b.key))
