"""The race: many concurrent requests, several gateway instances, one budget, no overshoot.

Three ``Ledger`` instances, each with its own boto3 client (as three Lambda instances would
have), share one moto table. DynamoDB applies each UpdateItem to an item atomically (the
condition and the write cannot interleave with another request's); moto does not under
threads, so moto's UpdateItem handler (the update and the copy of the item it returns)
runs under a lock here, which restores the guarantee the real service gives and nothing
more. Under that lock the test also samples the committed
counter after every update, so "never over the budget" is checked at every step, not only
at the end.
"""

from __future__ import annotations

import asyncio
import random
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.responses import DynamoHandler

from orchestra.errors import BudgetExceeded
from orchestra.governance.ledger import Hold, Ledger, Scope
from orchestra.governance.records import Limits, to_nanos
from orchestra.storage.governance import DynamoDBLedgerBackend
from orchestra.storage.tables import create_tables

TABLE = "race-governance"
T0 = 1_796_126_430.0  # 2026-12-01 12:00:30 UTC
DAY = "d_20261201"
#: one call's worst case: an odd amount, so sums are exact only if nothing is rounded
WORST = to_nanos("0.0123456789")
#: only 20 worst cases fit
BUDGET_USD = Decimal("0.0123456789") * 20 + Decimal("0.00000001")
BUDGET = to_nanos(BUDGET_USD)
REQUESTS = 50


@dataclass
class Observed:
    """The committed counters after every UpdateItem, per ledger item."""

    lock: threading.RLock = field(default_factory=threading.RLock)
    committed: dict[str, list[int]] = field(default_factory=dict)


@pytest.fixture
def observed(monkeypatch: pytest.MonkeyPatch) -> Iterator[Observed]:
    seen = Observed()
    real_handler = DynamoHandler.update_item
    real_update = DynamoDBBackend.update_item

    def atomic_handler(self: Any) -> Any:
        with seen.lock:
            return real_handler(self)

    def sampled_update(self: Any, *args: Any, **kwargs: Any) -> Any:
        item = real_update(self, *args, **kwargs)  # runs inside atomic_handler's lock
        counter = item.attrs.get(DAY)
        committed = seen.committed.setdefault(item.attrs["pk"].value, [])
        committed.append(int(counter.value) if counter else 0)
        return item

    monkeypatch.setattr(DynamoHandler, "update_item", atomic_handler)
    monkeypatch.setattr(DynamoDBBackend, "update_item", sampled_update)
    with mock_aws():
        yield seen


def instances(count: int) -> list[Ledger]:
    """``count`` gateway instances: separate clients on the one table."""
    ledgers = []
    for index in range(count):
        client = boto3.client("dynamodb", region_name="us-east-1")
        if index == 0:
            create_tables(client, {"governance": TABLE})
        ledgers.append(Ledger(DynamoDBLedgerBackend(TABLE, client), clock=lambda: T0))
    return ledgers


def item_of(pk: str) -> dict[str, Any]:
    client = boto3.client("dynamodb", region_name="us-east-1")
    key = {"pk": {"S": pk}, "sk": {"S": "ledger"}}
    return client.get_item(TableName=TABLE, Key=key, ConsistentRead=True)["Item"]


async def test_fifty_concurrent_holds_from_three_instances_never_overshoot(
    observed: Observed,
) -> None:
    ledgers = instances(3)
    scope = Scope("key", "ci-bot", Limits(budget_day_usd=BUDGET_USD))
    rng = random.Random(18)
    actual = [rng.randint(WORST // 10, WORST) for _ in range(REQUESTS)]
    all_held = asyncio.Event()
    pending = [REQUESTS]

    async def request(i: int) -> int | None:
        ledger = ledgers[i % 3]
        hold: Hold | None = None
        try:
            hold, _ = await ledger.hold([scope], WORST, 100, count_request=True)
        except BudgetExceeded as refused:
            assert refused.budget == "key:ci-bot:day"
        finally:
            pending[0] -= 1
            if not pending[0]:
                all_held.set()
        # every hold is decided before any settle: the budget is contested at its fullest
        await all_held.wait()
        if hold is None:
            return None
        await ledger.settle(hold, actual[i], 80)
        return actual[i]

    results = await asyncio.gather(*(request(i) for i in range(REQUESTS)))

    settled = [r for r in results if r is not None]
    assert len(settled) == 20 and results.count(None) == 30
    assert max(observed.committed["key#ci-bot"]) <= BUDGET
    item = item_of("key#ci-bot")
    assert int(item[DAY]["N"]) == sum(settled)
    assert not [name for name in item if name.startswith("h_")]


async def test_interleaved_cycles_on_key_and_team_never_overshoot(observed: Observed) -> None:
    # Given a roomy key budget and a team budget that only 20 worst cases fit
    ledgers = instances(3)
    key = Scope("key", "ci-bot", Limits(budget_day_usd=Decimal("100"), rpm=1000))
    team = Scope("team", "search", Limits(budget_day_usd=BUDGET_USD))
    rng = random.Random(1818)
    actual = [rng.randint(WORST // 10, WORST - 1) for _ in range(REQUESTS)]
    pauses = [rng.uniform(0, 0.02) for _ in range(REQUESTS)]

    async def request(i: int) -> int | None:
        ledger = ledgers[i % 3]
        await asyncio.sleep(pauses[i] / 4)
        try:
            hold, _ = await ledger.hold([key, team], WORST, 100, count_request=True)
        except BudgetExceeded as refused:
            assert refused.budget == "team:search:day"
            return None
        await asyncio.sleep(pauses[i])  # the upstream call; holds and settles interleave
        await ledger.settle(hold, actual[i], 80)
        return actual[i]

    results = await asyncio.gather(*(request(i) for i in range(REQUESTS)))

    settled = [r for r in results if r is not None]
    assert len(settled) >= 20
    assert max(observed.committed["team#search"]) <= BUDGET
    for pk in ("key#ci-bot", "team#search"):
        item = item_of(pk)
        # the key's compensated holds left no trace: both counters equal the settled sum
        assert int(item[DAY]["N"]) == sum(settled), pk
        assert not [name for name in item if name.startswith("h_")], pk
    assert int(item_of("key#ci-bot")[f"r_{int(T0 // 60)}"]["N"]) == len(settled)
