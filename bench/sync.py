"""Catalog sync costs, over the recorded payloads (shared/fixtures).

- one whole sync per source (parse, resolve, policy, in-memory writes, ranking diff), ms;
- entity resolution alone: the bundled catalog against the 371-model OpenRouter listing
  and the 282-model leaderboard, and one model against a 5,000-record synthetic listing;
- what a sync adds to the API functions' hot path: the catalog refresh (table overlay over
  the snapshot, every ``catalog_cache_s``), µs, and the models table's size in items.

The DynamoDB calls per sync are counted in the tests (one Scan + one UpdateItem per model
written); the gateway's request path makes none of its own for the catalog.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import FIXTURES, summary
from orchestra.catalog.models import load_snapshot
from orchestra.catalog.source import CatalogSource, overlay
from orchestra.storage.memory import MemoryCatalogBackend
from orchestra.sync.huggingface import HuggingFaceSource
from orchestra.sync.lmarena import LMArenaSource
from orchestra.sync.openrouter import OpenRouterSource
from orchestra.sync.records import SourceRecord
from orchestra.sync.resolve import Resolver
from orchestra.sync.service import SyncService
from orchestra.transport.http import HttpClients

PAYLOADS = {
    "openrouter": "openrouter/models_full.json",
    "lmarena": "leaderboards/lmarena_text_full_category.json",
    "huggingface": "huggingface/hub_api_model_info_inference_providers.json",
}
RUNS = 30


def _payload(source: str) -> Any:
    return json.loads((FIXTURES / PAYLOADS[source]).read_text())


def _timed(fn: Any, runs: int = RUNS) -> list[float]:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    return times


async def whole_syncs() -> MemoryCatalogBackend:
    table = MemoryCatalogBackend()
    adapters = [OpenRouterSource("file"), LMArenaSource("file"), HuggingFaceSource("file")]
    service = SyncService(
        CatalogSource(table=table, cache_s=0), table, {a.name: a for a in adapters}, HttpClients()
    )
    for source in PAYLOADS:
        payload = _payload(source)
        times = []
        for _ in range(RUNS):
            started = time.perf_counter()
            await service.run(source, payload, "file")
            times.append((time.perf_counter() - started) * 1000)
        print(f"sync {source:12s} (ms)  {summary(times)}")
    return table


def resolution() -> None:
    catalog = load_snapshot()
    for source, adapter in (("openrouter", OpenRouterSource("f")), ("lmarena", LMArenaSource("f"))):
        records = adapter.parse(_payload(source), "f").records
        times = _timed(lambda r=records: Resolver(r).resolve(catalog))
        print(f"resolve catalog vs {len(records)} {source} records (ms)  {summary(times)}")
    synthetic = [
        SourceRecord("x", f"vendor-{i % 50}/model-{i // 50}.{i % 7}-{8 * (i % 9)}b", {})
        for i in range(5000)
    ]
    resolver = Resolver(synthetic)
    model = catalog.get("groq/llama-3.3-70b-versatile")
    times = [t * 1000 for t in _timed(lambda: resolver.match(model), 200)]
    print(f"match one model vs 5,000 records (us)  {summary(times)}")


async def hot_path(table: MemoryCatalogBackend) -> None:
    records = await table.load_all()
    base = load_snapshot()
    times = [t * 1000 for t in _timed(lambda: overlay(base, records), 200)]
    size = len(json.dumps(records))
    print(f"catalog refresh overlay, {len(records)} items / {size} B (us)  {summary(times)}")


async def main() -> None:
    table = await whole_syncs()
    resolution()
    await hot_path(table)


if __name__ == "__main__":
    asyncio.run(main())
