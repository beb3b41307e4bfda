"""The chain functions' composition: the steps, the service, and the Completer over Generate.

A chain step's model call is a ``Generate.generate`` of a ChatRequest, so it goes through
the normal routing, fallback, breakers, cache and limits; :class:`GenerateCompleter` adapts
it to the chain package's own :class:`~orchestra.chain.protocols.Completer`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any, Unpack

from orchestra.chain.document import Chain
from orchestra.chain.limits import Estimate, GatewayLimits
from orchestra.chain.limits import check as check_limits
from orchestra.chain.protocols import Completion, Starter
from orchestra.chain.runner import LocalRunner
from orchestra.chain.service import ChainService, LimitCheck
from orchestra.chain.steps import ChainSteps
from orchestra.chain.store import ChainStore
from orchestra.compose.core import Core, build_core
from orchestra.compose.records import workflow_records
from orchestra.compose.roots import Options, gateway, served
from orchestra.compose.services import Services
from orchestra.compose.starters import state_machine
from orchestra.config import Settings
from orchestra.errors import WorkflowUnavailable
from orchestra.generate.service import Generate
from orchestra.schemas.chat import ChatRequest


class GenerateCompleter:
    """One chain call = one ``Generate.generate`` (a non-streamed chat completion)."""

    def __init__(self, generate: Generate) -> None:
        self.generate = generate

    async def complete(self, request: ChatRequest) -> Completion:
        started = time.perf_counter()
        answer = await self.generate.generate(request)
        response = answer.response
        choice = response.choices[0] if response is not None and response.choices else None
        text = choice.message.content if choice is not None else None
        return Completion(
            text=text if isinstance(text, str) else "",
            model=answer.model.id,
            usage=answer.usage,
            cost_usd=answer.cost_usd,
            latency_ms=(time.perf_counter() - started) * 1000,
            finish_reason=choice.finish_reason if choice is not None else None,
        )


def chain_store(core: Core) -> ChainStore:
    return ChainStore(workflow_records(core), ttl_days=core.settings.workflows_ttl_days)


def limit_check(core: Core) -> LimitCheck:
    """The gateway's chain limits, priced on the models this gateway serves (its configured
    providers'; the whole catalog if none is served), so ``auto`` is priced as the dearest
    model the router could actually pick, not the dearest one anywhere."""
    limits = GatewayLimits.from_settings(core.settings)
    providers = core.router.providers

    async def check(chain: Chain, inputs: Mapping[str, Any]) -> Estimate:
        catalog = await core.catalog.current()
        served = [m for m in catalog if m.provider in providers]
        return check_limits(chain, limits, served or list(catalog), inputs)

    return check


def chain_steps(core: Core, generate: Generate) -> ChainSteps:
    return ChainSteps(chain_store(core), GenerateCompleter(generate), core.catalog, core.governor)


def starter(core: Core, steps: Callable[[], ChainSteps]) -> Starter:
    """Step Functions deployed; otherwise the local runner over ``steps()``."""
    arn = core.settings.chain_state_machine_arn
    machine = state_machine(
        core.settings, arn, input_key="run_id", error=WorkflowUnavailable, what="chain run"
    )
    return machine if machine is not None else LocalRunner(steps())


def chain_service(core: Core, steps: Callable[[], ChainSteps]) -> ChainService:
    return ChainService(chain_store(core), core.catalog, starter(core, steps), limit_check(core))


def build_chain_steps(
    settings: Settings, environ: Mapping[str, str], **options: Unpack[Options]
) -> Services:
    core = build_core(settings, environ, **options)
    return served(core, chain_steps=chain_steps(core, gateway(core)))
