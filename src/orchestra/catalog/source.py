"""Where the live catalog comes from: the bundled snapshot, the config file, the models table.

The table (kept fresh by the scheduled syncs) overrides the snapshot field by field per
model; it is read at most once per ``cache_s`` and a failed read keeps the last good catalog.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, Protocol

from orchestra.catalog.models import Catalog, ModelInfo, catalog_from_records, load_snapshot
from orchestra.errors import StorageError

log = logging.getLogger("orchestra.catalog")


class CatalogReader(Protocol):
    async def load_all(self) -> list[dict[str, Any]]: ...


class CatalogSource:
    def __init__(
        self,
        *,
        base: Catalog | None = None,
        extra: list[ModelInfo] | None = None,
        table: CatalogReader | None = None,
        cache_s: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._base = (base or load_snapshot()).merged_with(extra or [])
        self._table = table
        self._cache_s = cache_s
        self._clock = clock
        self._current = self._base
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
            records = await self._table.load_all()
        except StorageError as exc:
            log.warning("models table unreadable, keeping the last good catalog: %s", exc)
            return self._current
        self._current = self._merge(records)
        return self._current

    def _merge(self, records: list[dict[str, Any]]) -> Catalog:
        merged = []
        for record in records:
            model_id = record.get("id") or record.get("model_id")
            if not isinstance(model_id, str):
                continue
            base = self._base.get(model_id).model_dump() if model_id in self._base else {}
            fields = {k: v for k, v in record.items() if v is not None}
            merged.append({**base, **fields, "id": model_id})
        return self._base.merged_with(catalog_from_records(merged))
