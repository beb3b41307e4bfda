"""What every composition root shares: stores, provider keys, client auth, the provider
registry and the models' shared state (breakers, catalog, usage statistics), redaction.

Local mode: in-memory stores, keys from the environment, the simulator when no provider is
configured. AWS mode: DynamoDB tables and Secrets Manager (through Powertools Parameters,
cached). Nothing here runs at import; a function builds what it serves on its first
invocation (see :mod:`orchestra.compose.roots`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from orchestra.api.auth import ApiKeyAuth, KeyLoader
from orchestra.catalog.deployments import Deployments
from orchestra.catalog.source import CatalogSource
from orchestra.compose.governance import governed
from orchestra.compose.governance import guards as default_guards
from orchestra.config import Settings
from orchestra.errors import InvalidRequest, NoCandidates, StorageError
from orchestra.governance.admission import Governor, LedgerLike, ScopeFactory
from orchestra.governance.issuer import LocalKeyIssuer
from orchestra.governance.metering import Meter, MeteredEmbeddings, MeteredProvider
from orchestra.governance.policies import Guards, RequestPolicies
from orchestra.governance.protocols import PolicyStore, SpendBackend
from orchestra.observability import Observer
from orchestra.providers.registry import (
    Registry,
    address_policy,
    build_registry,
    models_from_file,
    provider_configs,
    read_config,
)
from orchestra.redaction import RedactingFilter, Redactor
from orchestra.resilience.balancer import Balancer
from orchestra.resilience.breaker import BreakerPolicy, CircuitBreaker
from orchestra.resilience.deployment_stats import DeploymentStats
from orchestra.routing.router import Router
from orchestra.secrets import read_secret_json
from orchestra.storage.memory import MemoryBreakerBackend, MemoryMetricsBackend
from orchestra.storage.model_stats import MetricsRecorder
from orchestra.storage.protocols import (
    BreakerBackend,
    CatalogBackend,
    DebateBackend,
    MetricsBackend,
    ResponseBackend,
)
from orchestra.transport.http import HttpClients

if TYPE_CHECKING:  # annotations only: the generate function imports no admin code
    from orchestra.cache.protocols import AnswerBackend, VectorStore
    from orchestra.governance.issuer import KeyIssuer
    from orchestra.governance.protocols import PolicyStore, SpendBackend
    from orchestra.storage.protocols import BlobStore, RecordBackend

log = logging.getLogger("orchestra")


@dataclass
class Stores:
    breakers: BreakerBackend
    metrics: MetricsBackend
    catalog: CatalogBackend | None = None
    #: tests hand in a shared debates backend; otherwise chosen from the settings
    debates: DebateBackend | None = None
    #: the same for stored Responses answers
    responses: ResponseBackend | None = None
    #: governance (docs/governance.md): key and team policies, the budget and rate ledger
    #: (``governance/ledger.Ledger``) with its ``Scope`` class, spend rows, key issuing.
    #: Chosen from the settings when None (``compose/admin.py``); one instance per process,
    #: shared by the admin API and the request path, so a policy written is a policy applied.
    policies: PolicyStore | None = None
    ledger: LedgerLike | None = None
    ledger_scope: ScopeFactory | None = None
    spend: SpendBackend | None = None
    issuer: KeyIssuer | None = None
    #: the answer cache's second level and the semantic cache's vectors (docs/cache.md):
    #: chosen from the settings when None (``compose/cache.py``)
    cache: AnswerBackend | None = None
    vectors: VectorStore | None = None
    #: workflows (docs/workflows.md): chain, run, file and batch records, and the files'
    #: bytes; chosen from the settings at first use when None (``compose/records.py``), then
    #: kept here, so every use case of one process shares them
    records: RecordBackend | None = None
    blobs: BlobStore | None = None


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


def _listed(value: str | None) -> frozenset[str]:
    return frozenset(k.strip() for k in (value or "").split(",") if k.strip())


def client_auth(settings: Settings, issued: KeyLoader | None = None) -> ApiKeyAuth:
    """The app's own key check. ``issued``: the keys the local admin API hands out
    (``LocalKeyIssuer.load``), accepted once an admin key is configured (without one,
    local serve stays open and nobody can issue keys anyway)."""
    if settings.trust_gateway_auth:  # API Gateway's authorizer checked the key already
        return ApiKeyAuth(trust_gateway=True)
    keys, admins = _listed(settings.api_keys), _listed(settings.admin_keys)
    if settings.mode == "local" and admins and issued is not None:
        return ApiKeyAuth(keys, admin_keys=admins, loader=issued, refresh_s=0.0)
    if settings.mode == "aws" and settings.api_keys_secret:
        secret_id, max_age = settings.api_keys_secret, settings.secrets_cache_s

        async def load() -> dict[str, str]:  # {client name: key}: the name is the key's id
            return dict(read_secret_json(secret_id, max_age))

        return ApiKeyAuth(keys, admin_keys=admins, loader=load, refresh_s=float(max_age))
    return ApiKeyAuth(keys, admin_keys=admins, open_access=settings.mode == "local")


def allow_private(settings: Settings) -> bool:
    """Private and loopback upstreams: always locally, in AWS only when opted in."""
    return settings.allow_private_base_urls or settings.mode == "local"


def install_log_redaction(redactor: Redactor) -> None:
    """One redacting filter on the root handlers and the orchestra logger (replaced, not stacked)."""
    targets: list[logging.Filterer] = [
        logging.getLogger("orchestra"),
        *logging.getLogger().handlers,
    ]
    for target in targets:
        for old in [f for f in target.filters if isinstance(f, RedactingFilter)]:
            target.removeFilter(old)
        target.addFilter(RedactingFilter(redactor))


@dataclass
class Core:
    """The shared state of a function that calls models."""

    settings: Settings
    stores: Stores
    http: HttpClients
    registry: Registry
    breaker: CircuitBreaker
    catalog: CatalogSource
    router: Router
    metrics: MetricsRecorder
    redactor: Redactor
    auth: ApiKeyAuth
    observer: Observer | None = None
    #: what this instance has seen of each deployment (load balancing, budgets, hedges)
    stats: DeploymentStats = field(default_factory=DeploymentStats)
    #: orchestra.yaml's deployments (clones, groups, options, strategies)
    deployments: Deployments = field(default_factory=Deployments)
    #: orders each model's deployments in a plan (None: Generate makes a default one)
    balancer: Balancer | None = None
    #: admits each request (policies, ledger, guardrail modes); None: governance off
    governor: Governor | None = None
    #: the guardrails the use cases run (None: none)
    policies: RequestPolicies | None = None


def build_core(
    settings: Settings,
    environ: Mapping[str, str],
    *,
    http: HttpClients | None = None,
    stores: Stores | None = None,
    observer: Observer | None = None,
    guards: Guards | None = None,
) -> Core:
    if stores is None:
        stores = dynamodb_stores(settings) if settings.mode == "aws" else memory_stores()
    file = read_config(settings.config, settings.config_json)
    private = allow_private(settings)
    configs = provider_configs(provider_keys(settings, environ), file, allow_private=private)
    if settings.simulator:
        configs = []
    elif not configs and settings.mode == "aws":
        raise NoCandidates(
            "no provider is configured: put keys in the provider keys secret "
            "(or set ORCHESTRA_SIMULATOR=true to serve the labelled simulator)",
            status=503,
        )
    http = http or HttpClients(policy=address_policy(configs, allow_private=private))
    oracle = _oracle_options(settings)
    try:
        registry = build_registry(
            configs,
            http,
            extra_models=models_from_file(file),
            force_simulator=settings.simulator,
            simulator_options={
                "seed": settings.simulator_seed,
                "latency_scale": settings.simulator_latency_scale,
                "failure_rate": settings.simulator_failure_rate,
                **oracle,
            },
        )
    except ValueError as exc:
        if oracle and (refused := _oracle_refused(exc)) is not None:
            raise refused from None
        raise
    secrets = [c.api_key for c in registry.configs.values()]
    redactor = Redactor([*secrets, *_listed(settings.api_keys), *_listed(settings.admin_keys)])
    install_log_redaction(redactor)
    deployments = Deployments(file.deployments if file else None)
    catalog = CatalogSource(
        extra=registry.extra_models,
        table=stores.catalog,
        cache_s=settings.catalog_cache_s,
        deployments=deployments,
    )
    if not registry.simulated:  # the simulator stands in for every provider a file names
        deployments.check(catalog.cached, registry.names())
    stats = DeploymentStats(low_water=settings.lb_ratelimit_low_water)
    breaker = _breaker(settings, stores, observer)
    if guards is None and (governed(settings, stores) or _guarding(settings)):
        guards = default_guards(settings)
    governor, policies = governance(settings, stores, registry, guards, observer)
    return Core(
        settings=settings,
        stores=stores,
        http=http,
        registry=registry,
        breaker=breaker,
        catalog=catalog,
        router=Router(
            registry.names(),
            settings.max_candidates,
            builtin_tools=registry.builtin_tool_runners(),
            stand_in=registry.names() == {"simulator"},
            deployments=deployments,
        ),
        metrics=MetricsRecorder(stores.metrics),
        redactor=redactor,
        auth=client_auth(settings, issued_keys(stores)),
        observer=observer,
        stats=stats,
        deployments=deployments,
        balancer=Balancer(stats, breaker, strategy=settings.lb_strategy),
        governor=governor,
        policies=policies,
    )


def _oracle_options(settings: Settings) -> dict[str, float | int | str]:
    """The simulator's oracle and accuracy overrides (``orchestra eval``), the accuracy
    checked here so a typo fails at start-up, naming the setting. Imported only when set:
    a deployed function's cold start never loads the evaluation or oracle modules."""
    options: dict[str, float | int | str] = {}
    if settings.simulator_oracle:  # a bundled dataset's name (gsm8k) or a JSONL path
        from orchestra.evaluation.datasets import bundled_path

        bundled = bundled_path(settings.simulator_oracle)
        options["oracle"] = str(bundled) if bundled else settings.simulator_oracle
    if settings.simulator_accuracy:
        from orchestra.simulator.oracle import OracleError, parse_accuracy

        try:
            parse_accuracy(settings.simulator_accuracy)
        except OracleError as exc:  # one line at start-up (cli._build_services), no traceback
            raise InvalidRequest(f"ORCHESTRA_SIMULATOR_ACCURACY: {exc}") from None
        options["accuracy"] = settings.simulator_accuracy
    return options


def _oracle_refused(exc: ValueError) -> InvalidRequest | None:
    """The simulator's oracle file unreadable or not a dataset: one line at start-up
    (``orchestra serve``, ``orchestra eval``) naming the setting, not a traceback. Other
    errors go on as they were."""
    from orchestra.simulator.oracle import OracleError

    if isinstance(exc, OracleError):
        return InvalidRequest(f"ORCHESTRA_SIMULATOR_ORACLE: {exc}")
    return None


def governance(
    settings: Settings,
    stores: Stores,
    registry: Registry,
    guards: Guards | None,
    observer: Observer | None,
) -> tuple[Governor | None, RequestPolicies | None]:
    """The governor and the request policies, when anything governs (a policy store, a
    ledger, guardrails); with a ledger, every provider of ``registry`` metered. Nothing
    governs: both None, and the request path awaits nothing more than before."""
    if stores.policies is None and stores.ledger is None and guards is None:
        return None, None
    if stores.ledger is not None:
        meter = Meter(spend=stores.spend, observer=observer)
        registry.providers = {
            name: MeteredProvider(provider, meter) for name, provider in registry.providers.items()
        }
        registry.wrap_embedder = lambda client: MeteredEmbeddings(client, meter)
    governor = Governor(
        settings, policies=stores.policies, ledger=stores.ledger, scope=stores.ledger_scope
    )
    policies = None
    if guards is not None:
        lookbehind = settings.redact_lookbehind_chars
        policies = RequestPolicies(guards, observer=observer, lookbehind=lookbehind)
    return governor, policies


def _guarding(settings: Settings) -> bool:
    """Whether the settings turn any guardrail on for every key."""
    modes = (settings.guardrail_injection, settings.guardrail_secrets, settings.guardrail_size)
    return (
        any(m != "off" for m in modes)
        or settings.redact_output
        or bool(settings.bedrock_guardrail_id)
    )


def issued_keys(stores: Stores) -> KeyLoader | None:
    """The local issuer's keys, for the key check (None: keys are not issued locally)."""
    issuer = stores.issuer
    return issuer.load if isinstance(issuer, LocalKeyIssuer) else None


def _breaker(settings: Settings, stores: Stores, observer: Observer | None) -> CircuitBreaker:
    policy = BreakerPolicy(
        failure_threshold=settings.breaker_failures,
        window_s=settings.breaker_window_s,
        cooldown_s=settings.breaker_cooldown_s,
        probe_lease_s=settings.request_deadline_s,
        cache_ttl_s=settings.breaker_cache_s,
    )
    on_open = observer.breaker_opened if observer is not None else None
    return CircuitBreaker(stores.breakers, policy, on_open=on_open)
