"""Chains under governance, through the real app (simulator, local runner): a run's worst
case is held against its creator's budget before it starts, and every step is admitted as
that key, so its spend lands on it.

The ledger, policy store and spend backend are the in-test fakes of ``support/governance``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient

from orchestra.api.app import create_app
from orchestra.api.auth import key_id_of
from orchestra.compose import build_services
from orchestra.compose.core import memory_stores
from orchestra.config import Settings
from orchestra.governance.records import KeyPolicy

from support.governance import FakeLedger, FakePolicies, FakeSpend

KEY = "sk-client-chains-0123456789"
KEY_ID = key_id_of(KEY)
#: two cheap calls: well under a cent in the worst case
CHEAP = {
    "steps": [
        {"id": "outline", "kind": "generate", "model": "sim-small", "prompt": "Outline tides",
         "max_tokens": 100},
        {"id": "summary", "kind": "generate", "model": "sim-small",
         "prompt": "Summarise: {{ steps.outline.output }}", "max_tokens": 100},
    ],
    "outputs": {"brief": "{{ steps.summary.output }}"},
}  # fmt: skip
#: ``auto`` is priced as the dearest served model (sim-large: $15 per million out): 2,000
#: tokens out may cost about $0.03
DEAR = {"steps": [{"id": "essay", "kind": "generate", "prompt": "An essay", "max_tokens": 2000}]}


class Governed:
    def __init__(self) -> None:
        policy = KeyPolicy(key_id=KEY_ID, budget_day_usd=Decimal("0.01"))
        self.policies = FakePolicies(keys={KEY_ID: policy})
        self.ledger, self.spend = FakeLedger(), FakeSpend()


@pytest.fixture
def governed() -> Iterator[tuple[TestClient, Governed]]:
    fakes = Governed()
    stores = memory_stores()
    stores.policies, stores.ledger, stores.spend = fakes.policies, fakes.ledger, fakes.spend
    settings = Settings(simulator=True, simulator_latency_scale=0.0, api_keys=KEY)
    services = build_services(settings, {}, stores=stores)
    with TestClient(create_app(services), headers={"authorization": f"Bearer {KEY}"}) as client:
        yield client, fakes


def _follow(client: TestClient, url: str) -> dict[str, Any]:
    for _ in range(300):
        view: dict[str, Any] = client.get(url).json()
        if view["status"] != "running":
            return view
        time.sleep(0.02)
    raise AssertionError("the chain run did not finish")


def test_a_run_over_the_budget_left_is_a_429_before_any_call(
    governed: tuple[TestClient, Governed],
) -> None:
    client, fakes = governed
    # Given a key with a $0.01 day budget, when it starts a chain that may cost $0.03
    refused = client.post("/v1/chains/runs", json={"chain": DEAR})
    # Then the run is refused as any call over budget is, and nothing was called or charged
    assert refused.status_code == 429, refused.text
    assert refused.json()["error"]["code"] == "budget_exceeded"
    assert fakes.ledger.holds == [] and fakes.spend.rows == []


def test_every_step_is_admitted_as_the_runs_creator_and_spends_on_its_key(
    governed: tuple[TestClient, Governed],
) -> None:
    client, fakes = governed
    # Given the same key, when it starts a chain whose worst case fits its budget
    started = client.post("/v1/chains/runs", json={"chain": CHEAP})
    assert started.status_code == 202, started.text
    view = _follow(client, started.json()["status_url"])
    assert view["status"] == "succeeded", view.get("error")
    assert 0 < view["estimate_usd"] < 0.01
    # Then the estimate was held (not as a request) and released before the first call
    ledger = fakes.ledger
    assert ledger.counted[0] is False and ledger.released[0] == ledger.holds[0].hold_id
    assert ledger.holds[0].nanos == round(view["estimate_usd"] * 1e9)
    # And both steps' calls were held, settled and spent on the creator's key
    assert len(ledger.holds) == 3 and ledger.live == {}
    assert [(r.key_id, r.model) for r in fakes.spend.rows] == [(KEY_ID, "simulator/sim-small")] * 2
    assert {s.id for scope in (h.scopes for h in ledger.holds) for s in scope} == {KEY_ID}
