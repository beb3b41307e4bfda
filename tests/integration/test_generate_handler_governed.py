"""The deployed generate function, governed: its key's policy and ledger in the governance
table (moto), the caller named by API Gateway's authorizer (``principalId``), a real
OpenAI-compatible upstream on 127.0.0.1. Shows the Lambda path of issue 18: the authorizer's
name is the key id, the policy is read from DynamoDB, each call is held and settled there,
a spend row lands in the metrics table, and a refusal is OpenAI's 429.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import boto3
import pytest

from orchestra.governance.records import KeyPolicy
from orchestra.storage.governance import DynamoDBPolicyStore

from support.lambda_api import (
    TABLES,
    CallCounter,
    Context,
    body_of,
    close_apps,
    deployed,
    header_of,
    load_handler,
    sample_event,
)
from support.upstream import FakeUpstream, Reply, running_in_thread

GOVERNANCE = "orch-governance"
PRINCIPAL = "client-1"  # the sample event's requestContext.authorizer.principalId


@pytest.fixture(autouse=True)
def _close_apps() -> Iterator[None]:
    yield
    close_apps()


@pytest.fixture
def upstream(recorded: Any) -> Iterator[FakeUpstream]:
    fake = FakeUpstream(default=Reply.json(recorded.bytes("openai/chat_completion_basic.json")))
    with running_in_thread(fake) as started:
        yield started


@pytest.fixture
def aws(tmp_path: Path, upstream: FakeUpstream, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    config = tmp_path / "orchestra.yaml"
    config.write_text(
        f"""
providers:
  - name: upstream
    type: openai
    base_url: {upstream.base_url}/v1
    api_key_env: UPSTREAM_KEY
    models:
      - id: gpt-4o-mini
        context_window: 128000
        input_price: 1.5e-7
        output_price: 6.0e-7
        quality: 1270
"""
    )
    tables = {**TABLES, "governance": GOVERNANCE}
    with deployed(monkeypatch, config, {"UPSTREAM_KEY": "sk-up-0123456789"}, tables=tables) as db:
        monkeypatch.setenv("ORCHESTRA_GOVERNANCE_TABLE", GOVERNANCE)
        monkeypatch.setenv("ORCHESTRA_TRUST_GATEWAY_AUTH", "true")
        yield db


def put_policy(policy: KeyPolicy) -> None:
    client = boto3.client("dynamodb", region_name="us-east-1")
    asyncio.run(DynamoDBPolicyStore(GOVERNANCE, client).put_key(policy))


def ledger() -> dict[str, Any]:
    client = boto3.client("dynamodb", region_name="us-east-1")
    key = {"pk": {"S": f"key#{PRINCIPAL}"}, "sk": {"S": "ledger"}}
    found: dict[str, Any] = client.get_item(TableName=GOVERNANCE, Key=key).get("Item", {})
    return found


def invoke() -> dict[str, Any]:
    event = sample_event("generate", "rest_v1_chat_completions.json")
    response: dict[str, Any] = load_handler("generate").handler(event, Context("generate"))
    return response


def test_the_authorizers_principal_is_held_and_settled_in_dynamodb(
    aws: Any, upstream: FakeUpstream, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the sample's principal with a day budget and an rpm limit in the table
    put_policy(KeyPolicy(key_id=PRINCIPAL, budget_day_usd=Decimal("1"), rpm=5))
    counter = CallCounter()
    counter.install(monkeypatch)
    # When the function answers one request
    response = invoke()
    calls = [op for service, op in counter.calls if service == "dynamodb"]
    # Then it answered, with OpenAI's rate-limit headers counted in DynamoDB
    assert response["statusCode"] == 200, body_of(response)
    assert header_of(response, "x-ratelimit-limit-requests") == "5"
    assert header_of(response, "x-ratelimit-remaining-requests") == "4"
    # And the call was held and settled: the day counter is exactly the answer's cost
    item = ledger()
    day = next(int(v["N"]) for k, v in item.items() if k.startswith("d_"))
    cost = Decimal(header_of(response, "x-orchestra-cost-usd") or "0")
    assert abs(Decimal(day) / 1_000_000_000 - cost) < Decimal("0.00000001")
    assert not [k for k in item if k.startswith("h_")]
    # And the ledger's work was one UpdateItem before the call and one after, plus the
    # spend row in the metrics table; the policy was read once
    # (the catalog's Scan and the breakers' BatchGetItem are a cold start's, as before)
    assert calls.count("GetItem") == 1  # the key's policy, cached after
    assert calls.count("UpdateItem") == 3  # hold; settle and spend row, concurrently


def test_a_principal_over_budget_is_refused_before_the_upstream(
    aws: Any, upstream: FakeUpstream
) -> None:
    # Given a day budget below one call's worst case
    put_policy(KeyPolicy(key_id=PRINCIPAL, budget_day_usd=Decimal("0.00000001")))
    # When the function is asked
    response = invoke()
    # Then OpenAI's 429, naming the budget, and the upstream was never called
    assert response["statusCode"] == 429
    error = json.loads(body_of(response))["error"]
    assert error["code"] == "budget_exceeded" and f"key:{PRINCIPAL}:day" in error["message"]
    assert header_of(response, "retry-after") is not None
    assert upstream.requests == []
