"""The PolicyStore contract over both implementations (memory, DynamoDB under moto)."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import boto3
import pytest
from moto import mock_aws

from orchestra.errors import StorageError
from orchestra.governance.memory import MemoryPolicyStore
from orchestra.governance.records import GuardrailSettings, KeyPolicy, TeamPolicy
from orchestra.storage.governance import DynamoDBPolicyStore
from orchestra.storage.tables import create_tables

TABLE = "test-governance"


@pytest.fixture(params=["memory", "dynamodb"])
def store(request: pytest.FixtureRequest) -> Iterator[MemoryPolicyStore | DynamoDBPolicyStore]:
    if request.param == "memory":
        yield MemoryPolicyStore()
        return
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        create_tables(client, {"governance": TABLE})
        yield DynamoDBPolicyStore(TABLE, client)


def policy(key_id: str, team: str | None = None, **fields: object) -> KeyPolicy:
    return KeyPolicy.model_validate({"key_id": key_id, "team": team, **fields})


async def test_a_key_policy_round_trips_exactly(store: MemoryPolicyStore) -> None:
    written = policy(
        "ci-bot",
        "search",
        budget_day_usd="0.1",
        budget_month_usd="12.345678901",
        max_request_usd="0.000000001",
        rpm=60,
        tpm=100_000,
        admin=False,
        guardrails=GuardrailSettings(injection="block", max_message_chars=4000),
        created_at="2026-12-01T12:00:00Z",
    )
    await store.put_key(written)
    read = await store.get_key("ci-bot")
    assert read == written
    assert read is not None and read.budget_month_usd == Decimal("12.345678901")
    assert await store.get_key("nobody") is None


async def test_put_replaces_and_delete_says_whether_there_was_one(store: MemoryPolicyStore) -> None:
    await store.put_key(policy("ci-bot", rpm=10))
    await store.put_key(policy("ci-bot", rpm=20))
    assert (await store.get_key("ci-bot")).rpm == 20  # type: ignore[union-attr]
    assert await store.delete_key("ci-bot") is True
    assert await store.delete_key("ci-bot") is False
    assert await store.get_key("ci-bot") is None


async def test_keys_are_listed_all_or_by_team(store: MemoryPolicyStore) -> None:
    for key_id, team in [("b", "search"), ("a", "search"), ("c", "ads"), ("d", None)]:
        await store.put_key(policy(key_id, team))
    await store.put_team(TeamPolicy(team_id="search"))
    assert [p.key_id for p in await store.list_keys()] == ["a", "b", "c", "d"]
    assert [p.key_id for p in await store.list_keys(team="search")] == ["a", "b"]
    assert await store.list_keys(team="nobody") == []


async def test_teams_round_trip_and_list(store: MemoryPolicyStore) -> None:
    await store.put_team(TeamPolicy(team_id="search", budget_month_usd=Decimal("100")))
    await store.put_team(TeamPolicy(team_id="ads", rpm=5))
    await store.put_key(policy("k", "ads"))
    assert (await store.get_team("search")).budget_month_usd == Decimal("100")  # type: ignore[union-attr]
    assert await store.get_team("nobody") is None
    assert [t.team_id for t in await store.list_teams()] == ["ads", "search"]


async def test_a_read_copy_is_not_the_stored_policy(store: MemoryPolicyStore) -> None:
    await store.put_key(policy("k", rpm=1))
    read = await store.get_key("k")
    assert read is not None
    read.rpm = 99
    assert (await store.get_key("k")).rpm == 1  # type: ignore[union-attr]


async def test_an_aws_failure_is_a_storage_error() -> None:
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        store = DynamoDBPolicyStore("missing-table", client)
        with pytest.raises(StorageError) as failed:
            await store.get_key("k")
    assert "ResourceNotFoundException" in str(failed.value)
