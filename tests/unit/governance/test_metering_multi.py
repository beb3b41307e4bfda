"""Multi-generate under a budget: each member holds for its own call; a refused member
fails alone; when every member is refused the client gets the refusal itself."""

from __future__ import annotations

from decimal import Decimal

import pytest

from orchestra.caller import Principal
from orchestra.config import Settings
from orchestra.errors import BudgetExceeded
from orchestra.governance.admission import Governor, current_admission
from orchestra.governance.metering import Meter, MeteredProvider
from orchestra.governance.records import KeyPolicy
from orchestra.multi.service import MultiGenerate

from support.governance import FakeLedger, FakePolicies
from support.multi import A, B, C, by_model, multi_request, multi_service
from support.scripted import ScriptedProvider, Stall


async def _service_under(budget_usd: str) -> tuple[ScriptedProvider, FakeLedger, MultiGenerate]:
    provider = ScriptedProvider("scripted")
    for model in (A, B, C):  # the calls overlap: each holds while the others are out
        provider.enqueue(model.split("/", 1)[1], Stall(0.05))
    service = multi_service(provider)
    metered = MeteredProvider(provider, Meter())
    service.fanout.registry.providers["scripted"] = metered  # type: ignore[assignment]
    ledger = FakeLedger()
    key = KeyPolicy(key_id="k", budget_day_usd=Decimal(budget_usd))
    governor = Governor(Settings(), policies=FakePolicies(keys={"k": key}), ledger=ledger)
    current_admission.set(await governor.admit(Principal("k")))
    return provider, ledger, service


async def test_every_member_holds_for_its_own_call() -> None:
    _, ledger, service = await _service_under("10")
    response = await service.run(multi_request(models=[A, B, C], strategy="vote"))
    assert sum(r.status == "ok" for r in response.results) == 3
    assert len(ledger.holds) == 3 and len(ledger.settled) == 3 and ledger.live == {}
    assert ledger.counted.count(True) == 1  # one request, counted once


async def test_a_refused_member_fails_alone() -> None:
    # Given a budget for two of the three members' worst cases (4096 output tokens each)
    _, ledger, service = await _service_under("0.02")
    response = await service.run(multi_request(models=[A, B, C], strategy="vote"))
    statuses = sorted(r.status for r in by_model(response).values())
    assert statuses == ["error", "ok", "ok"]
    refused = [r for r in response.results if r.status == "error"]
    assert refused[0].error is not None and refused[0].error.code == "budget_exceeded"
    assert ledger.live == {}


async def test_every_member_refused_is_the_refusal_itself() -> None:
    provider, _, service = await _service_under("0.00001")
    with pytest.raises(BudgetExceeded) as refused:
        await service.run(multi_request(models=[A, B, C], strategy="vote"))
    assert refused.value.status == 429 and provider.calls == []
