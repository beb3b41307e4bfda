"""The composition root: settings in, a ready :class:`~orchestra.api.deps.Services` out.

Local mode: in-memory stores, keys from the environment, the simulator when no provider is
configured. AWS mode: DynamoDB tables and Secrets Manager (through Powertools Parameters,
cached). Nothing here runs at import; the Lambda handler calls it once per cold start.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from orchestra.api.auth import ApiKeyAuth
from orchestra.api.deps import Services
from orchestra.catalog.models import Catalog
from orchestra.catalog.source import CatalogSource
from orchestra.config import Settings
from orchestra.debate.runner import LocalRunner
from orchestra.debate.service import DebateService, Starter, StepFunctionsStarter
from orchestra.debate.steps import DebateSteps
from orchestra.debate.store import DebateStore
from orchestra.errors import NoCandidates, StorageError
from orchestra.gateway import Gateway
from orchestra.multi.service import Limits, MultiGenerate
from orchestra.observability import Observer
from orchestra.providers.registry import (
    address_policy,
    build_registry,
    load_config_file,
    models_from_file,
    provider_configs,
)
from orchestra.redaction import RedactingFilter, Redactor
from orchestra.resilience.breaker import BreakerPolicy, CircuitBreaker
from orchestra.resilience.retry import RetryPolicy
from orchestra.routing.router import Router
from orchestra.secrets import read_secret_json
from orchestra.storage.memory import (
    MemoryBreakerBackend,
    MemoryCatalogBackend,
    MemoryDebateBackend,
    MemoryMetricsBackend,
)
from orchestra.storage.metrics import MetricsRecorder
from orchestra.storage.protocols import (
    BreakerBackend,
    CatalogBackend,
    DebateBackend,
    MetricsBackend,
)
from orchestra.transport.http import HttpClients
from orchestra.transport.ssrf import AddressPolicy

if TYPE_CHECKING:  # the API functions never import the sync
    from orchestra.sync.service import SyncService

log = logging.getLogger("orchestra")


@dataclass
class Stores:
    breakers: BreakerBackend
    metrics: MetricsBackend
    catalog: CatalogBackend | None = None
    #: tests hand in a shared debates backend; otherwise chosen from the settings
    debates: DebateBackend | None = None


def memory_stores() -> Stores:
    return Stores(MemoryBreakerBackend(), MemoryMetricsBackend(), None)


def dynamodb_stores(settings: Settings, client: Any = None) -> Stores:
    """The tables a function was given. Breakers are required (their state is shared by
    every instance); a function that calls no model (the debate API) has no metrics table
    and keeps its (empty) metrics in memory."""
    from orchestra.storage.dynamodb import (
        DynamoDBBreakerBackend,
        DynamoDBCatalogBackend,
        DynamoDBMetricsBackend,
    )

    if not settings.breakers_table:
        raise StorageError("AWS mode needs ORCHESTRA_BREAKERS_TABLE")
    catalog = (
        DynamoDBCatalogBackend(settings.models_table, client) if settings.models_table else None
    )
    metrics: MetricsBackend = (
        DynamoDBMetricsBackend(settings.metrics_table, client)
        if settings.metrics_table
        else MemoryMetricsBackend()
    )
    return Stores(DynamoDBBreakerBackend(settings.breakers_table, client), metrics, catalog)


def provider_keys(settings: Settings, environ: Mapping[str, str]) -> Mapping[str, str]:
    if settings.mode == "aws" and settings.provider_keys_secret:
        return {
            **environ,
            **read_secret_json(settings.provider_keys_secret, settings.secrets_cache_s),
        }
    return environ


def client_auth(settings: Settings) -> ApiKeyAuth:
    if settings.trust_gateway_auth:  # API Gateway's authorizer checked the key already
        return ApiKeyAuth(open_access=True)
    keys = frozenset(k.strip() for k in (settings.api_keys or "").split(",") if k.strip())
    if settings.mode == "aws" and settings.api_keys_secret:
        secret_id, max_age = settings.api_keys_secret, settings.secrets_cache_s

        async def load() -> frozenset[str]:
            values = read_secret_json(secret_id, max_age)
            return frozenset(values.values()) | keys

        return ApiKeyAuth(keys, loader=load, refresh_s=float(max_age))
    return ApiKeyAuth(keys, open_access=settings.mode == "local")


def build_services(
    settings: Settings,
    environ: Mapping[str, str],
    *,
    http: HttpClients | None = None,
    stores: Stores | None = None,
    observer: Observer | None = None,
) -> Services:
    if stores is None:
        stores = dynamodb_stores(settings) if settings.mode == "aws" else memory_stores()
    file = load_config_file(settings.config) if settings.config else None
    allow_private = _allow_private(settings)
    keys = provider_keys(settings, environ)
    configs = provider_configs(keys, file, allow_private=allow_private)
    if settings.simulator:
        configs = []
    elif not configs and settings.mode == "aws":
        raise NoCandidates(
            "no provider is configured: put keys in the provider keys secret "
            "(or set ORCHESTRA_SIMULATOR=true to serve the labelled simulator)",
            status=503,
        )
    http = http or HttpClients(policy=address_policy(configs, allow_private=allow_private))
    registry = build_registry(
        configs,
        http,
        extra_models=models_from_file(file),
        force_simulator=settings.simulator,
        simulator_options={
            "seed": settings.simulator_seed,
            "latency_scale": settings.simulator_latency_scale,
            "failure_rate": settings.simulator_failure_rate,
        },
    )
    breaker = CircuitBreaker(
        stores.breakers,
        BreakerPolicy(
            failure_threshold=settings.breaker_failures,
            window_s=settings.breaker_window_s,
            cooldown_s=settings.breaker_cooldown_s,
            probe_lease_s=settings.request_deadline_s,
            cache_ttl_s=settings.breaker_cache_s,
        ),
        on_open=observer.breaker_opened if observer is not None else None,
    )
    gateway = Gateway(
        catalog=CatalogSource(
            extra=registry.extra_models, table=stores.catalog, cache_s=settings.catalog_cache_s
        ),
        registry=registry,
        router=Router(registry.names(), settings.max_candidates),
        breaker=breaker,
        metrics=MetricsRecorder(stores.metrics),
        retry=RetryPolicy(attempts_per_model=settings.attempts_per_model),
        observer=observer,
        default_profile=settings.default_profile,
        deadline_s=settings.request_deadline_s,
        buffered_deadline_s=settings.buffered_deadline,
    )
    secrets = [c.api_key for c in registry.configs.values()]
    secrets += (settings.api_keys or "").split(",")
    redactor = Redactor(secrets)
    _install_log_redaction(redactor)
    limits = Limits(
        max_models=settings.multi_max_models,
        default_count=settings.multi_default_count,
        deadline_s=settings.buffered_deadline,
        stream_deadline_s=settings.request_deadline_s,
    )
    multi = MultiGenerate(gateway, limits, scrub=redactor.scrub)
    steps = DebateSteps(debate_store(settings, stores), gateway.catalog, multi.fanout)
    starter: Starter = (
        StepFunctionsStarter(settings.debate_state_machine_arn)
        if settings.mode == "aws" and settings.debate_state_machine_arn
        else LocalRunner(steps)
    )
    return Services(
        settings=settings,
        gateway=gateway,
        auth=client_auth(settings),
        redactor=redactor,
        multi=multi,
        debates=DebateService(steps.store, gateway.catalog, multi.selector, starter),
        debate_steps=steps,
        http=http,
    )


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
        http or HttpClients(policy=AddressPolicy(allow_private=_allow_private(settings))),
        threshold=settings.sync_match_threshold,
    )


def _allow_private(settings: Settings) -> bool:
    """Private and loopback upstreams: always locally, in AWS only when opted in."""
    return settings.allow_private_base_urls or settings.mode == "local"


def debate_store(settings: Settings, stores: Stores) -> DebateStore:
    """Debates in their table in AWS; in memory locally (and where no table is configured)."""
    if stores.debates is not None:
        return DebateStore(stores.debates)
    if settings.mode == "aws" and settings.debates_table:
        from orchestra.storage.dynamodb import DynamoDBDebateBackend

        return DebateStore(DynamoDBDebateBackend(settings.debates_table))
    return DebateStore(MemoryDebateBackend())


def _install_log_redaction(redactor: Redactor) -> None:
    """One redacting filter on the root handlers and the orchestra logger (replaced, not stacked)."""
    targets: list[logging.Filterer] = [
        logging.getLogger("orchestra"),
        *logging.getLogger().handlers,
    ]
    for target in targets:
        for old in [f for f in target.filters if isinstance(f, RedactingFilter)]:
            target.removeFilter(old)
        target.addFilter(RedactingFilter(redactor))


def describe(services: Services) -> str:
    registry = services.gateway.registry
    summary = {"providers": sorted(registry.names()), "simulator": registry.simulated}
    return json.dumps(summary)
