"""The catalog sync's composition root (the sync function and ``orchestra sync``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from orchestra.catalog.models import Catalog
from orchestra.catalog.source import CatalogSource
from orchestra.compose.core import allow_private, provider_keys
from orchestra.config import Settings
from orchestra.errors import StorageError
from orchestra.storage.memory import MemoryCatalogBackend
from orchestra.storage.protocols import CatalogBackend
from orchestra.transport.http import HttpClients
from orchestra.transport.ssrf import AddressPolicy

if TYPE_CHECKING:
    from orchestra.sync.service import SyncService


def build_sync(
    settings: Settings,
    environ: Mapping[str, str],
    *,
    table: CatalogBackend | None = None,
    base: Catalog | None = None,
    http: HttpClients | None = None,
) -> SyncService:
    """The catalog sync over the models table (AWS) or an in-memory one (local: the CLI
    then writes the result into the snapshot). Needs no breaker or metrics table."""
    from orchestra.sync.huggingface import HuggingFaceSource
    from orchestra.sync.lmarena import LMArenaSource
    from orchestra.sync.openrouter import OpenRouterSource
    from orchestra.sync.records import SourceAdapter
    from orchestra.sync.service import SyncService

    if table is None and settings.mode == "aws":
        if not settings.models_table:
            raise StorageError("the catalog sync needs ORCHESTRA_MODELS_TABLE")
        from orchestra.storage.dynamodb import DynamoDBCatalogBackend

        table = DynamoDBCatalogBackend(settings.models_table)
    table = table if table is not None else MemoryCatalogBackend()
    keys = provider_keys(settings, environ)
    timeout = settings.sync_timeout_s
    adapters: list[SourceAdapter] = [
        OpenRouterSource(settings.sync_openrouter_url, timeout_s=timeout),
        LMArenaSource(
            settings.sync_lmarena_url, category=settings.sync_lmarena_category, timeout_s=timeout
        ),
        HuggingFaceSource(
            settings.sync_huggingface_url,
            token=keys.get("HF_TOKEN") or keys.get("HUGGINGFACE_API_KEY"),
            timeout_s=timeout,
        ),
    ]
    return SyncService(
        CatalogSource(base=base, table=table, cache_s=0),
        table,
        {a.name: a for a in adapters},
        http or HttpClients(policy=AddressPolicy(allow_private=allow_private(settings))),
        threshold=settings.sync_match_threshold,
    )
