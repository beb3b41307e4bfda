"""The admin function's composition root, and the governance stores every root shares.

``build_admin`` serves ``/v1/admin/*`` and ``/v1/spend``: it calls no model, so it builds no
provider registry, catalog or breaker (an empty registry and catalog satisfy ``/health``),
and needs no provider keys. ``build_services`` (``orchestra serve``) serves the same routes
through :func:`governance_services` over its core's stores.

Which stores (:func:`policy_store`, :func:`spend_backend`, :func:`key_issuer`): the ones a
caller handed in ``Stores`` (tests); else DynamoDB and API Gateway in AWS mode; else memory.
Each is kept on the ``Stores`` it was chosen for, so the request path (the governor, the
metering) and the admin API of one process share them.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypedDict, Unpack

from orchestra.compose.core import Stores, client_auth
from orchestra.compose.services import Services
from orchestra.config import Settings
from orchestra.errors import StorageError
from orchestra.governance.admin import KeyAdmin
from orchestra.governance.issuer import KeyIssuer, LocalKeyIssuer
from orchestra.governance.protocols import PolicyStore, SpendBackend
from orchestra.governance.spend import SpendReport
from orchestra.storage.memory import MemoryBreakerBackend, MemoryMetricsBackend

if TYPE_CHECKING:
    from orchestra.observability import Observer
    from orchestra.transport.http import HttpClients


class AdminOptions(TypedDict, total=False):
    """``compose.roots.Options``, restated: importing roots would load the generate use
    case into a function that calls no model."""

    http: HttpClients | None
    stores: Stores | None
    observer: Observer | None


def _made(path: str, *args: Any) -> Any:
    """``module:Class(*args)``, imported when first needed (the policy stores are another
    helper's modules: ``governance/memory.py`` and ``storage/governance.py``)."""
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)(*args)


def policy_store(settings: Settings, stores: Stores) -> PolicyStore:
    if stores.policies is None:
        if settings.mode == "aws" and settings.governance_table:
            found = dynamodb_policy_store(settings.governance_table)
        elif settings.mode == "aws":
            raise StorageError("AWS mode needs ORCHESTRA_GOVERNANCE_TABLE for key policies")
        else:
            found = _made("orchestra.governance.memory:MemoryPolicyStore")
        stores.policies = found
    return stores.policies


def dynamodb_policy_store(table: str, client: Any = None) -> PolicyStore:
    """The governance table's policies (``orchestra keys --governance-table``, deployed)."""
    found: PolicyStore = _made("orchestra.storage.governance:DynamoDBPolicyStore", table, client)
    return found


def spend_backend(settings: Settings, stores: Stores) -> SpendBackend:
    if stores.spend is None:
        from orchestra.storage.spend import DynamoDBSpendBackend, MemorySpendBackend

        if settings.mode == "aws" and settings.metrics_table:
            stores.spend = DynamoDBSpendBackend(settings.metrics_table)
        else:
            stores.spend = MemorySpendBackend()
    return stores.spend


def key_issuer(settings: Settings, stores: Stores) -> KeyIssuer:
    """API Gateway + the client-keys secret in AWS (both configured, or a clear error when
    a key is first issued); in-memory keys locally."""
    if stores.issuer is None:
        if settings.mode == "aws":
            stores.issuer = _aws_issuer(settings)
        else:
            stores.issuer = LocalKeyIssuer()
    return stores.issuer


def _aws_issuer(settings: Settings) -> KeyIssuer:
    if not (settings.api_keys_secret and settings.key_usage_plan):
        raise StorageError(
            "issuing keys needs ORCHESTRA_API_KEYS_SECRET and ORCHESTRA_KEY_USAGE_PLAN"
        )
    import boto3

    from orchestra.governance.issuer import AwsKeyIssuer
    from orchestra.storage.client_keys import ClientKeys

    keys = ClientKeys(
        boto3.client("apigateway"), boto3.client("secretsmanager"), settings.api_keys_secret
    )
    return AwsKeyIssuer(keys, settings.key_usage_plan)


def governance_services(settings: Settings, stores: Stores) -> dict[str, Any]:
    """``admin=`` and ``spend=`` for :class:`Services`, over ``stores``' governance stores."""
    spend = SpendReport(spend_backend(settings, stores))
    try:
        policies = policy_store(settings, stores)
    except ModuleNotFoundError:  # TEMPORARY, until governance/memory.py is merged: remove
        return {"spend": spend}
    return {"admin": KeyAdmin(policies, key_issuer(settings, stores)), "spend": spend}


def build_admin(
    settings: Settings, environ: Mapping[str, str], **options: Unpack[AdminOptions]
) -> Services:
    """Keys, teams and spend; no model is called, so no registry, catalog or breaker."""
    from orchestra.catalog.models import Catalog
    from orchestra.catalog.source import CatalogSource
    from orchestra.providers.registry import Registry
    from orchestra.redaction import Redactor
    from orchestra.transport.http import HttpClients

    del environ  # no provider keys: this function calls no model
    stores = options.get("stores") or Stores(MemoryBreakerBackend(), MemoryMetricsBackend())
    listed = [*(settings.api_keys or "").split(","), *(settings.admin_keys or "").split(",")]
    return Services(
        settings=settings,
        auth=client_auth(settings),
        redactor=Redactor([k.strip() for k in listed if k.strip()]),
        http=options.get("http") or HttpClients(),
        registry=Registry({}, {}),
        catalog=CatalogSource(base=Catalog([])),
        **governance_services(settings, stores),
    )
