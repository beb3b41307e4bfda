"""The chain service: versioned definitions, runs started once, limits and the budget
checked before anything is stored or called."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import pytest

from orchestra.caller import Principal, set_principal
from orchestra.chain.document import Chain, parse_chain
from orchestra.chain.limits import Estimate, GatewayLimits, check
from orchestra.chain.runner import LocalRunner
from orchestra.chain.service import ChainService
from orchestra.chain.store import ChainStore
from orchestra.config import Settings
from orchestra.errors import (
    BudgetExceeded,
    InvalidRequest,
    WorkflowConflict,
    WorkflowNotFound,
)
from orchestra.governance.admission import Governor, current_admission
from orchestra.governance.records import KeyPolicy, to_nanos
from orchestra.schemas.chain import ChainRunRequest, InlineChainRunRequest
from orchestra.storage.memory import MemoryRecordBackend

from support.chains import MODELS, ScriptedCompleter, catalog, steps_over
from support.governance import FakeLedger, FakePolicies

ONE = {"steps": [{"id": "a", "kind": "generate", "model": "up/a", "prompt": "hi {{ inputs.x }}"}],
       "inputs": {"x": {"type": "string", "default": "there"}},
       "outputs": {"said": "{{ steps.a.output }}"}}  # fmt: skip
ARN = "arn:aws:states:us-east-1:123456789012:execution:chains:"


class Starter:
    """A Step Functions-like starter: records starts; an execution per run id."""

    idempotent = True

    def __init__(self, live: str = "RUNNING") -> None:
        self.started: list[str] = []
        self.live = live

    async def start(self, run_id: str) -> str | None:
        self.started.append(run_id)
        return ARN + run_id

    async def status(self, execution_arn: str) -> tuple[str, str | None]:
        return self.live, "States.Timeout" if self.live != "RUNNING" else None

    async def aclose(self) -> None:
        return None


async def limits(chain: Chain, inputs: Mapping[str, Any]) -> Estimate:
    return check(chain, GatewayLimits(max_steps=5), MODELS, inputs)


def service(starter: Any = None, store: ChainStore | None = None) -> ChainService:
    store = store or ChainStore(MemoryRecordBackend())
    return ChainService(store, catalog(), starter or Starter(), limits)


async def test_put_versions_a_chain_and_the_same_document_keeps_its_version() -> None:
    chains = service()
    first = await chains.put("greet", parse_chain(ONE))
    again = await chains.put("greet", parse_chain(ONE))
    changed = await chains.put("greet", parse_chain({**ONE, "description": "v2"}))
    assert (first.version, again.version, changed.version) == (1, 1, 2)
    assert first.steps == 1
    assert (await chains.get("greet")).chain["description"] == "v2"
    assert "description" not in (await chains.get("greet", 1)).chain
    with pytest.raises(WorkflowNotFound):
        await chains.get("nope")
    with pytest.raises(WorkflowNotFound):
        await chains.get("greet", 3)


async def test_a_named_run_uses_the_version_asked_for_and_records_its_creator() -> None:
    starter = Starter()
    chains = service(starter)
    await chains.put("greet", parse_chain(ONE))
    await chains.put("greet", parse_chain({**ONE, "description": "v2"}))
    set_principal(Principal("ci-bot"))
    run = await chains.start_named("greet", ChainRunRequest(version=1))
    assert run.header.version == 1 and run.header.key_id == "ci-bot"
    assert run.header.inputs == {"x": "there"}  # the default filled in
    assert starter.started == [run.header.id] and run.execution_arn == ARN + run.header.id
    view = await chains.view(run.header.id)
    assert view.status == "running" and view.chain == "greet" and view.version == 1
    assert view.console_url is not None and "us-east-1" in view.console_url
    assert view.estimate_usd is not None and view.estimate_usd > 0


async def test_an_inline_run_runs_to_the_end_on_the_local_runner() -> None:
    store = ChainStore(MemoryRecordBackend())
    runner = LocalRunner(steps_over(store, ScriptedCompleter()))
    chains = service(runner, store)
    run = await chains.start_inline(InlineChainRunRequest(chain=ONE, inputs={"x": "you"}))
    assert run.execution_arn is None and run.header.name is None
    for _ in range(200):
        view = await chains.view(run.header.id)
        if view.status != "running":
            break
        await asyncio.sleep(0.01)
    assert view.status == "succeeded" and view.outputs == {"said": "echo: hi you"}
    assert [s.path for s in view.steps] == ["steps[0]"] and view.cost_usd == 2e-5
    await runner.aclose()


async def test_the_same_idempotency_key_is_the_same_run_and_another_request_a_409() -> None:
    starter = Starter()
    chains = service(starter)
    request = InlineChainRunRequest(chain=ONE, inputs={"x": "a"})
    first = await chains.start_inline(request, "key-1")
    again = await chains.start_inline(request, "key-1")
    assert first.header.id == again.header.id and starter.started == [first.header.id]
    with pytest.raises(WorkflowConflict) as caught:
        await chains.start_inline(InlineChainRunRequest(chain=ONE, inputs={"x": "b"}), "key-1")
    assert caught.value.param == "Idempotency-Key" and caught.value.status == 409


async def test_unknown_runs_and_unknown_inputs() -> None:
    chains = service()
    with pytest.raises(WorkflowNotFound) as missing:
        await chains.view("chrun_" + "0" * 26)
    assert missing.value.status == 404
    with pytest.raises(InvalidRequest) as bad:
        await chains.start_inline(InlineChainRunRequest(chain=ONE, inputs={"y": 1}))
    assert bad.value.param == "inputs.y"


async def test_a_chain_over_the_limits_is_refused_before_anything_is_stored() -> None:
    starter = Starter()
    store = ChainStore(MemoryRecordBackend())
    chains = service(starter, store)
    wide = {"steps": [{"id": f"s{i}", "kind": "generate", "prompt": "x"} for i in range(6)]}
    with pytest.raises(InvalidRequest) as caught:
        await chains.start_inline(InlineChainRunRequest(chain=wide), "key-2")
    assert caught.value.param == "limits" and "6 steps" in caught.value.message
    assert starter.started == [] and await store.get_run(chains_id("key-2")) is None


def chains_id(key: str) -> str:
    from orchestra.chain.service import run_id_for

    return run_id_for(key)


async def test_a_failed_execution_shows_as_failed_with_its_error() -> None:
    chains = service(Starter(live="TIMED_OUT"))
    run = await chains.start_inline(InlineChainRunRequest(chain=ONE))
    view = await chains.view(run.header.id)
    assert view.status == "failed" and view.error == "a step took longer than its timeout"
    assert view.error_code == "chain_failed"


async def _governed(budget: str) -> FakeLedger:
    """The current request admitted as ``ci-bot``, whose day budget is ``budget`` USD."""
    ledger = FakeLedger()
    policy = KeyPolicy(key_id="ci-bot", budget_day_usd=Decimal(budget))
    governor = Governor(Settings(), policies=FakePolicies(keys={"ci-bot": policy}), ledger=ledger)
    current_admission.set(await governor.admit(Principal("ci-bot")))
    return ledger


async def test_a_run_whose_worst_case_exceeds_the_budget_left_is_refused_before_it_starts() -> None:
    # Given a key with a $0.003 day budget, $0.002 of it spent, and a chain whose worst
    # case (1,000 tokens out on up/a) is about $0.002: it fits the budget, not what is left
    ledger = await _governed("0.003")
    ledger.committed["key:ci-bot"] = to_nanos(0.002)
    starter = Starter()
    chains = service(starter)
    dear = {"steps": [{"id": "a", "kind": "generate", "model": "up/a", "prompt": "x",
                       "max_tokens": 1000}]}  # fmt: skip
    # When it is started
    with pytest.raises(BudgetExceeded) as caught:
        await chains.start_inline(InlineChainRunRequest(chain=dear))
    # Then it is the 429 any call over budget gets, and nothing ran or stays held
    assert caught.value.status == 429
    assert (
        starter.started == []
        and ledger.live == {}
        and ledger.committed["key:ci-bot"] == to_nanos(0.002)
    )


async def test_a_run_that_fits_the_budget_holds_its_estimate_and_releases_it() -> None:
    ledger = await _governed("1")
    starter = Starter()
    chains = service(starter)
    run = await chains.start_inline(InlineChainRunRequest(chain=ONE))
    assert starter.started == [run.header.id]
    [hold] = ledger.holds
    assert hold.nanos == round((run.header.estimate_usd or 0) * 1e9) and hold.nanos > 0
    assert ledger.released == [hold.hold_id] and ledger.live == {}
    assert ledger.counted == [False]  # the estimate is not a request
