"""One catalog sync: fetch a source, resolve its records to catalog models, apply the
conflict policy, write the models table, report what changed.

Nothing is written until the source has been fetched, parsed and resolved: a source that
fails, or sends nothing usable, raises ``SyncFailed`` and leaves the last good catalog as
it is. Each model's fields are one ``UpdateItem`` (atomic per model, idempotent when
re-run), so a sync cut short by the table is completed by the retry.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from orchestra.catalog.models import Catalog
from orchestra.catalog.source import CatalogSource, overlay
from orchestra.errors import ProviderError, StorageError, SyncFailed
from orchestra.storage.protocols import CatalogBackend
from orchestra.sync.merge import plan_updates
from orchestra.sync.records import Batch, SourceAdapter
from orchestra.sync.report import SyncReport, ranking_changes
from orchestra.sync.resolve import DEFAULT_THRESHOLD, Resolver
from orchestra.transport.http import HttpClients

WRITE_CONCURRENCY = 8


class SyncService:
    def __init__(
        self,
        catalog: CatalogSource,
        table: CatalogBackend,
        adapters: Mapping[str, SourceAdapter],
        http: HttpClients,
        *,
        threshold: float = DEFAULT_THRESHOLD,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.catalog = catalog
        self.table = table
        self.adapters = dict(adapters)
        self.http = http
        self.threshold = threshold
        self._clock = clock

    @property
    def sources(self) -> list[str]:
        return list(self.adapters)

    async def run(self, source: str, payload: Any = None, origin: str | None = None) -> SyncReport:
        """Sync ``source``, from ``payload`` when given (a file) or fetched."""
        started = time.perf_counter()
        adapter = self._adapter(source)
        before = await self._synced(source)
        fetched_at = self._clock()
        if payload is None:
            payload = await self._fetch(adapter, before)
        batch = self._parse(adapter, payload, origin or adapter.url)
        if not batch.records and not batch.empty_ok:
            raise SyncFailed(
                f"{source}: no usable records in the payload ({_why(batch)}); "
                "the catalog is unchanged",
                source=source,
                retryable=batch.failed_fetches > 0,
            )
        matches = Resolver(batch.records, threshold=self.threshold).resolve(before)
        plan = plan_updates(before, matches, fetched_at)
        await self._write(source, plan.updates)
        after = overlay(before, plan.records())
        matched = {m.record.ref for m in matches}
        return SyncReport(
            source=source,
            origin=batch.origin,
            fetched_at=fetched_at.isoformat(timespec="seconds"),
            records=len(batch.records),
            matched=len(matches),
            models_written=len(plan.updates),
            changes=plan.changes,
            skipped=batch.skipped,
            held=plan.held,
            unmatched=_best_first([r for r in batch.records if r.ref not in matched]),
            rankings=ranking_changes(before, after),
            duration_ms=(time.perf_counter() - started) * 1000,
        )

    def _adapter(self, source: str) -> SourceAdapter:
        if source not in self.adapters:
            known = ", ".join(self.adapters)
            raise SyncFailed(
                f"unknown catalog source {source!r}; use one of: {known}", source=source
            )
        return self.adapters[source]

    async def _synced(self, source: str) -> Catalog:
        try:
            return await self.catalog.synced()
        except StorageError as exc:
            raise SyncFailed(
                f"{source}: the models table is unreadable ({exc.message})",
                source=source,
                retryable=True,
            ) from exc

    async def _fetch(self, adapter: SourceAdapter, catalog: Catalog) -> Any:
        try:
            return await adapter.fetch(self.http.get(), catalog)
        except ProviderError as exc:  # a body that is not JSON is a (retryable) MalformedResponse
            raise SyncFailed(
                f"{adapter.name}: {exc.message}", source=adapter.name, retryable=exc.retryable
            ) from exc

    @staticmethod
    def _parse(adapter: SourceAdapter, payload: Any, origin: str) -> Batch:
        try:
            return adapter.parse(payload, origin)
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise SyncFailed(
                f"{adapter.name}: the payload is not in a known shape ({exc})",
                source=adapter.name,
            ) from exc

    async def _write(self, source: str, updates: dict[str, dict[str, Any]]) -> None:
        gate = asyncio.Semaphore(WRITE_CONCURRENCY)

        async def one(model_id: str, fields: dict[str, Any]) -> None:
            async with gate:
                await self.table.upsert(model_id, fields)

        try:
            await asyncio.gather(*(one(m, f) for m, f in updates.items()))
        except StorageError as exc:
            raise SyncFailed(
                f"{source}: writing the models table failed ({exc.message}); models already "
                "written keep their new values, the retry completes the rest",
                source=source,
                retryable=True,
            ) from exc

    async def aclose(self) -> None:
        await self.http.aclose()


def _why(batch: Batch) -> str:
    if not batch.skipped:
        return "it lists no models"
    reasons = sorted({s.reason for s in batch.skipped})
    return f"{len(batch.skipped)} skipped: " + "; ".join(reasons[:3])


def _best_first(records: list[Any]) -> list[str]:
    rated = sorted(records, key=lambda r: -float(r.fields.get("quality") or 0.0))
    return [r.ref for r in rated]
