"""The admin function's composition root, and the governance stores every root shares.

``build_admin`` serves ``/v1/admin/*`` and ``/v1/spend``: it calls no model, so it builds no
provider registry, catalog or breaker (an empty registry and catalog satisfy ``/health``),
and needs no provider keys. ``build_services`` (``orchestra serve``) serves the same routes
through :func:`governance_services` over its core's stores.

Which stores: :mod:`orchestra.compose.governance` chooses them, and keeps each on the
``Stores`` it was chosen for, so the request path (the governor, the metering) and the
admin API of one process share them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypedDict, Unpack

from orchestra.compose.core import Stores, client_auth, issued_keys
from orchestra.compose.governance import key_issuer, policy_store, spend_backend
from orchestra.compose.services import Services
from orchestra.config import Settings
from orchestra.governance.admin import KeyAdmin
from orchestra.governance.spend import SpendReport
from orchestra.storage.memory import MemoryBreakerBackend, MemoryMetricsBackend

if TYPE_CHECKING:
    from orchestra.governance.admission import Governor
    from orchestra.observability import Observer
    from orchestra.transport.http import HttpClients


class AdminOptions(TypedDict, total=False):
    """``compose.roots.Options``, restated: importing roots would load the generate use
    case into a function that calls no model."""

    http: HttpClients | None
    stores: Stores | None
    observer: Observer | None


def governance_services(
    settings: Settings, stores: Stores, governor: Governor | None = None
) -> dict[str, Any]:
    """``admin=`` and ``spend=`` for :class:`Services`, over ``stores``' governance stores;
    ``governor``: the same process's, told of every change (its cached copy is dropped)."""
    spend = SpendReport(spend_backend(settings, stores))
    if settings.mode == "aws" and not settings.governance_table and stores.policies is None:
        return {"spend": spend}  # a stack without the governance table: no keys to manage
    policies = policy_store(settings, stores)
    changed = governor.cache.forget if governor is not None else None
    admin = KeyAdmin(policies, key_issuer(settings, stores), changed=changed)
    return {"admin": admin, "spend": spend}


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
    governance = governance_services(settings, stores)  # first: the issuer auth accepts
    return Services(
        settings=settings,
        auth=client_auth(settings, issued_keys(stores)),
        redactor=Redactor([k.strip() for k in listed if k.strip()]),
        http=options.get("http") or HttpClients(),
        registry=Registry({}, {}),
        catalog=CatalogSource(base=Catalog([])),
        **governance,
    )
