"""The bundled catalog snapshot (``orchestra/catalog/snapshot.json``), regenerated from a sync.

Routing uses the snapshot wherever no models table exists (``orchestra serve``, tests, a
first deployment before its first sync). ``orchestra sync`` runs the sources over it and
writes it back: same models in the same order, each synced field with its provenance.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

from orchestra.catalog.models import Catalog, ModelInfo
from orchestra.sync.report import SyncReport


def bundled_path() -> Path:
    return Path(str(resources.files("orchestra.catalog").joinpath("snapshot.json")))


def read_document(path: Path) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(path.read_text("utf-8"))
    return document


def snapshot_document(
    catalog: Catalog, previous: dict[str, Any], reports: Sequence[SyncReport]
) -> dict[str, Any]:
    sources = dict(previous.get("sources") or {})
    for report in reports:
        sources[report.source] = f"{report.origin} (fetched {report.fetched_at})"
    return {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "sources": sources,
        "models": [_entry(model) for model in catalog],
    }


def _entry(model: ModelInfo) -> dict[str, Any]:
    entry = model.model_dump(mode="json", exclude={"provenance"})
    entry["capabilities"] = sorted(model.capabilities)
    for optional in ("aliases", "hf_repo", "dimensions"):
        if not entry.get(optional):
            entry.pop(optional, None)
    if model.provenance:
        entry["provenance"] = {
            name: origin.model_dump(mode="json")
            for name, origin in sorted(model.provenance.items())
        }
    return entry


def write_document(path: Path, document: dict[str, Any]) -> None:
    path.write_text(json.dumps(document, indent=1) + "\n", "utf-8")
