"""One composition root per function: each builds what its function serves, and no more.

=====================  =================================================================
root                   builds
=====================  =================================================================
``build_generate``     the generate use case (chat completions, models, health)
``build_multi``        multi-generate (its fan-out runs through generate's fallback runner)
``build_debate_api``   starting and reading debates (Step Functions deployed; locally the
                       local runner, which needs the debate steps)
``build_debate_steps`` the debate state machine's steps
``build_services``     all of the above, for ``orchestra serve`` and the tests
=====================  =================================================================
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TypedDict, Unpack

from orchestra.compose.core import Core, Stores, build_core, debate_store
from orchestra.compose.services import Services
from orchestra.config import Settings
from orchestra.debate.runner import LocalRunner
from orchestra.debate.service import DebateService, Starter
from orchestra.debate.steps import DebateSteps
from orchestra.generate.service import Generate
from orchestra.multi.service import Limits, MultiGenerate
from orchestra.observability import Observer
from orchestra.panel.fanout import FanOut
from orchestra.panel.selection import Selector
from orchestra.resilience.retry import RetryPolicy
from orchestra.storage.stepfunctions import StepFunctionsStarter
from orchestra.transport.http import HttpClients

Root = Callable[..., Services]


class Options(TypedDict, total=False):
    """What tests and callers may hand every root instead of building it."""

    http: HttpClients | None
    stores: Stores | None
    observer: Observer | None


def _gateway(core: Core) -> Generate:
    settings = core.settings
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
    )


def _limits(settings: Settings) -> Limits:
    return Limits(
        max_models=settings.multi_max_models,
        default_count=settings.multi_default_count,
        deadline_s=settings.buffered_deadline,
        stream_deadline_s=settings.request_deadline_s,
    )


def _selector(core: Core) -> Selector:
    limits = _limits(core.settings)
    return Selector(
        core.router,
        core.breaker,
        max_models=limits.max_models,
        default_count=limits.default_count,
        default_profile=core.settings.default_profile,
    )


def _fanout(gateway: Generate) -> FanOut:
    return FanOut(gateway.registry, gateway.runner, gateway.metrics)


def _services(core: Core, **served: object) -> Services:
    return Services(
        settings=core.settings,
        auth=core.auth,
        redactor=core.redactor,
        http=core.http,
        registry=core.registry,
        catalog=core.catalog,
        **served,  # type: ignore[arg-type]
    )


def _multi(core: Core, gateway: Generate, selector: Selector, fanout: FanOut) -> MultiGenerate:
    return MultiGenerate(
        catalog=core.catalog,
        selector=selector,
        fanout=fanout,
        metrics=core.metrics,
        observer=gateway.observer,
        limits=_limits(core.settings),
        scrub=core.redactor.scrub,
    )


def _steps(core: Core, fanout: FanOut) -> DebateSteps:
    return DebateSteps(debate_store(core.settings, core.stores), core.catalog, fanout)


def _starter(core: Core, steps: Callable[[], DebateSteps]) -> Starter:
    settings = core.settings
    if settings.mode == "aws" and settings.debate_state_machine_arn:
        return StepFunctionsStarter(settings.debate_state_machine_arn)
    return LocalRunner(steps())


def build_generate(
    settings: Settings, environ: Mapping[str, str], **options: Unpack[Options]
) -> Services:
    core = build_core(settings, environ, **options)
    return _services(core, gateway=_gateway(core))


def build_multi(
    settings: Settings, environ: Mapping[str, str], **options: Unpack[Options]
) -> Services:
    core = build_core(settings, environ, **options)
    gateway = _gateway(core)
    return _services(core, multi=_multi(core, gateway, _selector(core), _fanout(gateway)))


def build_debate_api(
    settings: Settings, environ: Mapping[str, str], **options: Unpack[Options]
) -> Services:
    core = build_core(settings, environ, **options)
    store = debate_store(settings, core.stores)

    def local_steps() -> DebateSteps:  # only without a state machine (local runs)
        return DebateSteps(store, core.catalog, _fanout(_gateway(core)))

    starter = _starter(core, local_steps)
    debates = DebateService(store, core.catalog, _selector(core), starter)
    return _services(core, debates=debates)


def build_debate_steps(
    settings: Settings, environ: Mapping[str, str], **options: Unpack[Options]
) -> Services:
    core = build_core(settings, environ, **options)
    return _services(core, debate_steps=_steps(core, _fanout(_gateway(core))))


def build_services(
    settings: Settings, environ: Mapping[str, str], **options: Unpack[Options]
) -> Services:
    """Everything (``orchestra serve``, the CLI, the tests): one core, every use case."""
    core = build_core(settings, environ, **options)
    gateway = _gateway(core)
    selector, fanout = _selector(core), _fanout(gateway)
    steps = _steps(core, fanout)
    debates = DebateService(steps.store, core.catalog, selector, _starter(core, lambda: steps))
    return _services(
        core,
        gateway=gateway,
        multi=_multi(core, gateway, selector, fanout),
        debates=debates,
        debate_steps=steps,
    )


#: the API functions' roots, by function name (``functions/<name>``)
ROOTS: dict[str, Root] = {
    "generate": build_generate,
    "multi_generate": build_multi,
    "debate_api": build_debate_api,
}
