"""The DynamoDB ledger backend: what it sends, how many round trips, how it fails."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import boto3
import pytest
from moto import mock_aws

from orchestra.errors import BudgetExceeded, StorageError
from orchestra.governance.ledger import Ceiling, Ledger, LedgerUpdate, Scope
from orchestra.governance.records import Limits, to_nanos
from orchestra.storage.governance import DynamoDBLedgerBackend, update_request
from orchestra.storage.tables import create_tables

TABLE = "test-governance"
T0 = 1_796_126_430.0  # 2026-12-01 12:00:30 UTC


class Calls:
    """Every DynamoDB operation the client sends, by name."""

    def __init__(self, client: Any) -> None:
        self.names: list[str] = []
        client.meta.events.register("before-call.dynamodb.*", self._seen)

    def _seen(self, model: Any, **_: Any) -> None:
        self.names.append(model.name)


@pytest.fixture
def client() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        create_tables(client, {"governance": TABLE})
        yield client


def scopes() -> list[Scope]:
    return [
        Scope("key", "ci-bot", Limits(budget_day_usd=Decimal("10"), rpm=100)),
        Scope("team", "search", Limits(budget_month_usd=Decimal("1"))),
    ]


async def test_a_hold_and_a_settle_are_one_update_per_metered_scope(client: Any) -> None:
    ledger = Ledger(DynamoDBLedgerBackend(TABLE, client), clock=lambda: T0)
    calls = Calls(client)
    hold, _ = await ledger.hold(scopes(), to_nanos("0.4"), 10, count_request=True)
    assert calls.names == ["UpdateItem", "UpdateItem"]
    await ledger.settle(hold, to_nanos("0.1"), 5)
    assert calls.names == ["UpdateItem"] * 4


async def test_a_refusal_needs_no_read(client: Any) -> None:
    ledger = Ledger(DynamoDBLedgerBackend(TABLE, client), clock=lambda: T0)
    await ledger.hold(scopes(), to_nanos("0.6"), 10, count_request=True)
    calls = Calls(client)
    with pytest.raises(BudgetExceeded):
        await ledger.hold(scopes(), to_nanos("0.6"), 10, count_request=True)
    # the two reservations, then the key's compensation; the refused item came back with
    # the failed condition (ALL_OLD), so no GetItem was needed to name the budget
    assert calls.names == ["UpdateItem"] * 3


async def test_the_two_scopes_are_updated_concurrently(client: Any, monkeypatch: Any) -> None:
    # Given an update that waits until both scopes' updates are in flight
    both = threading.Barrier(2, timeout=5)
    real = client.update_item

    def update_item(**kwargs: Any) -> Any:
        both.wait()
        return real(**kwargs)

    monkeypatch.setattr(client, "update_item", update_item)
    ledger = Ledger(DynamoDBLedgerBackend(TABLE, client), clock=lambda: T0)
    hold, _ = await ledger.hold(scopes(), to_nanos("0.1"), 1, count_request=True)
    await ledger.settle(hold, to_nanos("0.1"), 1)  # would break the barrier if sequential


def test_a_reservation_is_one_conditional_update() -> None:
    change = LedgerUpdate(
        add={"d_20261201": 5, "m_202612": 5, "r_1": 1},
        ceilings=(Ceiling("d_20261201", 95, "day"), Ceiling("r_1", 59, "rpm")),
        set_hold=("h_ab", {"n": 5, "t": 0, "d": "d_20261201", "m": "m_202612", "x": 9}),
        remove=frozenset({"r_0"}),
        expires_at=100,
    )
    request = update_request(change)
    assert request["UpdateExpression"] == (
        "ADD #a0 :v0, #a1 :v1, #a2 :v2 SET #a3 = :v3, #a4 = :v4 REMOVE #a5"
    )
    assert request["ConditionExpression"] == (
        "(attribute_not_exists(#a0) OR #a0 <= :v5) AND (attribute_not_exists(#a2) OR #a2 <= :v6)"
    )
    names = request["ExpressionAttributeNames"]
    assert [names[f"#a{i}"] for i in range(6)] == [
        "d_20261201",
        "m_202612",
        "r_1",
        "h_ab",
        "expires_at",
        "r_0",
    ]
    assert request["ExpressionAttributeValues"][":v5"] == {"N": "95"}


def test_a_settle_requires_its_hold() -> None:
    request = update_request(LedgerUpdate(add={"d_1": -3}, remove_hold="h_ab"))
    assert request["UpdateExpression"] == "ADD #a0 :v0 REMOVE #a1"
    assert request["ConditionExpression"] == "attribute_exists(#a1)"


async def test_an_aws_failure_is_a_storage_error() -> None:
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        ledger = Ledger(DynamoDBLedgerBackend("missing-table", client), clock=lambda: T0)
        with pytest.raises(StorageError):
            await ledger.hold(scopes()[:1], 1, 1, count_request=True)
