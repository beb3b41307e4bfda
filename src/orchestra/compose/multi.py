"""The multi-generate function's composition root."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Unpack

from orchestra.compose.core import Core, build_core
from orchestra.compose.panel import fanout_of, selector
from orchestra.compose.roots import Options, gateway, served
from orchestra.compose.services import Services
from orchestra.config import Settings
from orchestra.generate.service import Generate
from orchestra.multi.service import Limits, MultiGenerate
from orchestra.panel.fanout import FanOut
from orchestra.panel.selection import Selector


def limits(settings: Settings) -> Limits:
    return Limits(
        max_models=settings.multi_max_models,
        default_count=settings.multi_default_count,
        deadline_s=settings.buffered_deadline,
        stream_deadline_s=settings.request_deadline_s,
    )


def multi_generate(
    core: Core, generate: Generate, panel: Selector, fanout: FanOut
) -> MultiGenerate:
    return MultiGenerate(
        catalog=core.catalog,
        selector=panel,
        fanout=fanout,
        metrics=core.metrics,
        observer=generate.observer,
        limits=limits(core.settings),
        scrub=core.redactor.scrub,
        policies=generate.policies,
    )


def build_multi(
    settings: Settings, environ: Mapping[str, str], **options: Unpack[Options]
) -> Services:
    core = build_core(settings, environ, **options)
    generate = gateway(core)
    multi = multi_generate(core, generate, selector(core), fanout_of(generate))
    return served(core, multi=multi)
