"""Where the live catalog comes from: the bundled snapshot, the models table, the config file.

The table (kept fresh by the scheduled syncs) overlays the snapshot field by field per
model, with each synced field's origin in a ``source:<field>`` attribute; the operator's
config file then overrides whole models, and its ``deployments`` add their clones
(:mod:`orchestra.catalog.deployments`: derived each time, so they follow the base model's
synced fields). The table is read at most once per ``cache_s``
and a failed read keeps the last good catalog.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from orchestra.catalog.deployments import Deployments
from orchestra.catalog.models import Catalog, ModelInfo, catalog_from_records, load_snapshot
from orchestra.errors import StorageError

log = logging.getLogger("orchestra.catalog")

#: ``source:quality`` holds where ``quality`` came from (``FieldSource``)
PROVENANCE_PREFIX = "source:"


class CatalogReader(Protocol):
    async def load_all(self) -> list[dict[str, Any]]: ...


def overlay(base: Catalog, records: Iterable[dict[str, Any]]) -> Catalog:
    """``base`` with each record's fields set on its model (``id`` or ``model_id``)."""
    merged = []
    for record in records:
        model_id = record.get("id") or record.get("model_id")
        if not isinstance(model_id, str):
            continue
        data = base.get(model_id).model_dump() if model_id in base else {}
        provenance = dict(data.get("provenance") or {})
        for key, value in record.items():
            if value is None or key == "model_id":
                continue
            if key.startswith(PROVENANCE_PREFIX):
                provenance[key.removeprefix(PROVENANCE_PREFIX)] = value
            else:
                data[key] = value
        merged.append({**data, "id": model_id, "provenance": provenance})
    return base.merged_with(catalog_from_records(merged))


class CatalogSource:
    def __init__(
        self,
        *,
        base: Catalog | None = None,
        extra: list[ModelInfo] | None = None,
        table: CatalogReader | None = None,
        cache_s: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
        deployments: Deployments | None = None,
    ) -> None:
        self._base = base or load_snapshot()
        self._extra = extra or []
        self._deployments = deployments or Deployments()
        self._table = table
        self._cache_s = cache_s
        self._clock = clock
        self._current = self._made(self._base)
        self._loaded_at: float | None = None

    @property
    def cached(self) -> Catalog:
        """The catalog as last loaded, with no I/O."""
        return self._current

    async def current(self) -> Catalog:
        if self._table is None:
            return self._current
        now = self._clock()
        if self._loaded_at is not None and now - self._loaded_at < self._cache_s:
            return self._current
        self._loaded_at = now
        try:
            synced = await self.synced()
        except StorageError as exc:
            log.warning("models table unreadable, keeping the last good catalog: %s", exc)
            return self._current
        self._current = self._made(synced)
        return self._current

    def _made(self, synced: Catalog) -> Catalog:
        """The live catalog from the synced one: the config file's models, then the
        deployments' clones."""
        return self._deployments.apply(synced.merged_with(self._extra))

    async def synced(self) -> Catalog:
        """The snapshot overlaid with the table, read now (config models not applied);
        ``StorageError`` when the table cannot be read."""
        if self._table is None:
            return self._base
        return overlay(self._base, await self._table.load_all())
