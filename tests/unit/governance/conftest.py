"""A ledger backend per test, memory and DynamoDB (moto), and a clock the test moves."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import boto3
import pytest
from moto import mock_aws

from orchestra.governance.memory import MemoryLedgerBackend
from orchestra.storage.governance import DynamoDBLedgerBackend
from orchestra.storage.tables import create_tables

TABLE = "test-governance"
#: 2026-12-01 12:00:30 UTC: mid-day, mid-minute
T0 = datetime(2026, 12, 1, 12, 0, 30, tzinfo=UTC).timestamp()


class FakeClock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(params=["memory", "dynamodb"])
def backend(
    request: pytest.FixtureRequest,
) -> Iterator[MemoryLedgerBackend | DynamoDBLedgerBackend]:
    if request.param == "memory":
        yield MemoryLedgerBackend()
        return
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        create_tables(client, {"governance": TABLE})
        yield DynamoDBLedgerBackend(TABLE, client)
