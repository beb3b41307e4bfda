"""The debate functions' composition roots: the debate API and the state machine's steps."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Unpack

from orchestra.compose.core import Core, Stores, build_core
from orchestra.compose.panel import fanout_of, selector
from orchestra.compose.roots import Options, gateway, served
from orchestra.compose.services import Services
from orchestra.compose.starters import state_machine
from orchestra.config import Settings
from orchestra.debate.runner import LocalRunner
from orchestra.debate.service import DebateService, Starter
from orchestra.debate.steps import DebateSteps
from orchestra.debate.store import DebateStore
from orchestra.panel.fanout import FanOut
from orchestra.panel.selection import Selector
from orchestra.storage.memory import MemoryDebateBackend


def debate_store(settings: Settings, stores: Stores) -> DebateStore:
    """Debates in their table in AWS; in memory locally (and where no table is configured)."""
    if stores.debates is not None:
        return DebateStore(stores.debates)
    if settings.mode == "aws" and settings.debates_table:
        from orchestra.storage.dynamodb import DynamoDBDebateBackend

        return DebateStore(DynamoDBDebateBackend(settings.debates_table))
    return DebateStore(MemoryDebateBackend())


def debate_steps(core: Core, fanout: FanOut) -> DebateSteps:
    store = debate_store(core.settings, core.stores)
    return DebateSteps(store, core.catalog, fanout, core.governor)


def starter(core: Core, steps: Callable[[], DebateSteps]) -> Starter:
    """Step Functions deployed; otherwise the local runner over ``steps()``."""
    machine = state_machine(core.settings, core.settings.debate_state_machine_arn)
    return machine if machine is not None else LocalRunner(steps())


def debate_service(
    core: Core, store: DebateStore, panel: Selector, steps: Callable[[], DebateSteps]
) -> DebateService:
    return DebateService(store, core.catalog, panel, starter(core, steps))


def build_debate_api(
    settings: Settings, environ: Mapping[str, str], **options: Unpack[Options]
) -> Services:
    core = build_core(settings, environ, **options)
    store = debate_store(settings, core.stores)

    def local_steps() -> DebateSteps:  # only without a state machine (local runs)
        return DebateSteps(store, core.catalog, fanout_of(gateway(core)), core.governor)

    return served(core, debates=debate_service(core, store, selector(core), local_steps))


def build_debate_steps(
    settings: Settings, environ: Mapping[str, str], **options: Unpack[Options]
) -> Services:
    core = build_core(settings, environ, **options)
    return served(core, debate_steps=debate_steps(core, fanout_of(gateway(core))))
