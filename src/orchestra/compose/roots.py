"""One composition root per function: each builds what its function serves, and no more.

=====================  ==========================  ===========================================
root                   module                      builds
=====================  ==========================  ===========================================
``build_generate``     :mod:`.roots` (this one)    the generate use case (chat completions,
                                                   models, health) and embeddings
``build_multi``        :mod:`.multi`               multi-generate (its fan-out runs through
                                                   generate's fallback runner)
``build_debate_api``   :mod:`.debate`              starting and reading debates (Step
                                                   Functions deployed; locally the local
                                                   runner, which needs the debate steps)
``build_debate_steps`` :mod:`.debate`              the debate state machine's steps
``build_sync``         :mod:`.sync`                the catalog sync
``build_admin``        :mod:`.admin`               keys, teams and spend (``/v1/admin/*``,
                                                   ``/v1/spend``); calls no model
``build_services``     :mod:`.roots` (this one)    all but the sync, for ``orchestra serve``
                                                   and the tests (admin and spend included)
=====================  ==========================  ===========================================

Each root's module imports the use cases it builds, and a function imports only its own
root's module (:func:`root`): the generate function loads no debate, multi-generate, panel
or fusion code for them (``tests/unit/aws_lambda/test_cold_start.py``).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import TypedDict, Unpack

from orchestra.compose.cache import answer_cache
from orchestra.compose.core import Core, Stores, build_core
from orchestra.compose.services import Services
from orchestra.config import Settings
from orchestra.embed.service import Embed
from orchestra.generate.continuation import ContinuationPolicy
from orchestra.generate.service import Generate
from orchestra.governance.policies import Guards
from orchestra.observability import Observer
from orchestra.resilience.budgets import AttemptBudgets, BudgetKnobs
from orchestra.resilience.hedging import HedgeGate
from orchestra.resilience.retry import RetryPolicy
from orchestra.storage.memory import MemoryResponseBackend
from orchestra.storage.protocols import ResponseBackend
from orchestra.storage.responses import ResponseStore
from orchestra.transport.http import HttpClients

Root = Callable[..., Services]

#: the API functions' roots, by function name (``functions/<name>``): ``module:function``,
#: imported when the function builds its services (or, under SnapStart, prewarms)
ROOTS: dict[str, str] = {
    "generate": "orchestra.compose.roots:build_generate",
    "multi_generate": "orchestra.compose.multi:build_multi",
    "debate_api": "orchestra.compose.debate:build_debate_api",
    "admin": "orchestra.compose.admin:build_admin",
    "workflows_api": "orchestra.compose.workflows:build_workflows_api",
}


class Options(TypedDict, total=False):
    """What tests and callers may hand every root instead of building it."""

    http: HttpClients | None
    stores: Stores | None
    observer: Observer | None
    #: the guardrails (``guardrails`` package) the use cases run; None: none
    guards: Guards | None


def root(name: str) -> Root:
    """The named function's root (its module, and with it its use cases, imported now)."""
    module, _, function = ROOTS[name].partition(":")
    found: Root = getattr(importlib.import_module(module), function)
    return found


def gateway(core: Core, embed: Embed | None = None) -> Generate:
    """The generate use case; ``embed``: the embeddings service the semantic cache asks."""
    settings = core.settings
    options = core.router.options  # each deployment's, from orchestra.yaml
    return Generate(
        catalog=core.catalog,
        registry=core.registry,
        router=core.router,
        breaker=core.breaker,
        metrics=core.metrics,
        retry=RetryPolicy(attempts_per_model=settings.attempts_per_model),
        observer=core.observer,
        default_profile=settings.default_profile,
        deadline_s=settings.request_deadline_s,
        buffered_deadline_s=settings.buffered_deadline,
        stats=core.stats,
        budgets=AttemptBudgets(
            BudgetKnobs.of(settings),
            core.stats,
            cold_s=lambda model_id: options(model_id).first_token_s,
        ),
        hedge=HedgeGate.of(settings, allowed=lambda model_id: options(model_id).hedge),
        balancer=core.balancer,
        continuation=ContinuationPolicy(
            enabled=settings.continue_streams,
            allowed=lambda model_id: options(model_id).continue_streams,
        ),
        policies=core.policies,
        cache=answer_cache(core, embed),
    )


def embeddings(core: Core) -> Embed:
    settings = core.settings
    return Embed(
        catalog=core.catalog,
        registry=core.registry,
        breaker=core.breaker,
        metrics=core.metrics,
        retry=RetryPolicy(attempts_per_model=settings.attempts_per_model),
        observer=core.observer,
        deadline_s=settings.buffered_deadline,
    )


def response_store(core: Core) -> ResponseStore:
    """Responses answers in their table in AWS; in memory locally (and without a table)."""
    settings = core.settings
    backend: ResponseBackend
    if core.stores.responses is not None:
        backend = core.stores.responses
    elif settings.mode == "aws" and settings.responses_table:
        from orchestra.storage.dynamodb import DynamoDBResponseBackend

        backend = DynamoDBResponseBackend(settings.responses_table)
    else:
        backend = MemoryResponseBackend()
    return ResponseStore(backend, ttl_days=settings.responses_ttl_days)


def served(core: Core, **use_cases: object) -> Services:
    """What every function serves, plus ``use_cases`` (``gateway=``, ``multi=``...)."""
    return Services(
        settings=core.settings,
        auth=core.auth,
        redactor=core.redactor,
        http=core.http,
        registry=core.registry,
        catalog=core.catalog,
        governor=core.governor,
        **use_cases,  # type: ignore[arg-type]
    )


def build_generate(
    settings: Settings, environ: Mapping[str, str], **options: Unpack[Options]
) -> Services:
    core = build_core(settings, environ, **options)
    embed = embeddings(core)
    return served(
        core, gateway=gateway(core, embed), embeddings=embed, responses=response_store(core)
    )


def build_services(
    settings: Settings, environ: Mapping[str, str], **options: Unpack[Options]
) -> Services:
    """Everything (``orchestra serve``, the CLI, the tests): one core, every use case."""
    # the other roots' modules, imported here: a function importing this module for
    # ``build_generate`` does not load the use cases it does not serve
    from orchestra.compose.admin import governance_services
    from orchestra.compose.batches import batch_service, batch_steps, file_service
    from orchestra.compose.chains import chain_service, chain_steps
    from orchestra.compose.debate import debate_service, debate_steps
    from orchestra.compose.multi import multi_generate
    from orchestra.compose.panel import fanout_of, selector

    core = build_core(settings, environ, **options)
    embed = embeddings(core)
    generate = gateway(core, embed)
    panel, fanout = selector(core), fanout_of(generate)
    steps = debate_steps(core, fanout)
    files, batching = file_service(core), batch_steps(core, generate, embed)
    chained = chain_steps(core, generate)
    return served(
        core,
        gateway=generate,
        embeddings=embed,
        responses=response_store(core),
        multi=multi_generate(core, generate, panel, fanout),
        debates=debate_service(core, steps.store, panel, lambda: steps),
        debate_steps=steps,
        chains=chain_service(core, lambda: chained),
        chain_steps=chained,
        files=files,
        batches=batch_service(core, files, lambda: batching),
        batch_steps=batching,
        **governance_services(settings, core.stores, core.governor),
    )
