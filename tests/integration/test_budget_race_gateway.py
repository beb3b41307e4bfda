"""The race through the gateway: 50 concurrent requests, three gateway instances, one budget.

``test_budget_race.py`` races the ledger itself; this races whole requests. Three gateways
(as three Lambda instances would be: separate services, each with its own boto3 client)
share one moto governance table and one metrics table, and a real OpenAI-compatible
upstream on 127.0.0.1 answers with usage that differs per request. A key's day budget fits
only about 20 calls' worst case. DynamoDB applies each UpdateItem atomically; moto does not
under threads, so its UpdateItem handler runs under a lock here (that guarantee and nothing
more), and the committed day counter is sampled after every update.

What must hold: the committed counter never exceeds the budget; every refused request is a
429 ``budget_exceeded`` that never reached the upstream; at the end nothing is held, and
the day counter, the spend rows and the sum of the answers' own costs (usage x catalog
prices) agree exactly.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from moto import mock_aws
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.responses import DynamoHandler

from orchestra.api.app import create_app
from orchestra.api.auth import key_id_of
from orchestra.catalog.models import ModelInfo
from orchestra.catalog.pricing import cost_nanos, worst_case_nanos
from orchestra.compose import build_services
from orchestra.compose.core import memory_stores
from orchestra.config import Settings
from orchestra.governance.ledger import Ledger, Scope
from orchestra.governance.records import KeyPolicy, to_nanos
from orchestra.schemas.chat import ChatRequest, Usage
from orchestra.storage.governance import DynamoDBLedgerBackend, DynamoDBPolicyStore
from orchestra.storage.spend import DynamoDBSpendBackend
from orchestra.storage.tables import create_tables
from orchestra.tokens import estimate_prompt_tokens

from support.gateway import providers_file, started
from support.upstream import FakeUpstream, Reply

KEY = "sk-client-race-0123456789"
KEY_ID = key_id_of(KEY)
GOVERNANCE, METRICS = "race-gw-governance", "race-gw-metrics"
REQUESTS, INSTANCES, MAX_TOKENS = 50, 3, 1000
MODEL = {
    "id": "m1",
    "context_window": 128000,
    "max_output_tokens": 4000,
    "quality": 1300,
    "input_price": 0.0000013,
    "output_price": 0.0000047,
    "capabilities": ["streaming"],
}
PRICED = ModelInfo(id="alpha/m1", **{k: v for k, v in MODEL.items() if k != "id"})


def usage_for(text: str) -> tuple[int, int]:
    """The upstream's usage for the request asking ``text`` (``question <n>``): it varies."""
    n = int(text.rsplit(" ", 1)[1])
    return 30 + n % 7, 40 + (n * 37) % (MAX_TOKENS - 40)


def answer(request: dict[str, Any]) -> Reply:
    prompt, completion = usage_for(request["body"]["messages"][-1]["content"])
    return Reply.json(
        {
            "id": "up",
            "object": "chat.completion",
            "created": 1,
            "model": "m1",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": "42"},
                    "finish_reason": "stop",
                }
            ],
            "usage": {
                "prompt_tokens": prompt,
                "completion_tokens": completion,
                "total_tokens": prompt + completion,
            },
        }
    )


class Sampled:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.committed: list[int] = []


@pytest.fixture
def sampled(monkeypatch: pytest.MonkeyPatch) -> Iterator[Sampled]:
    seen = Sampled()
    real_handler, real_update = DynamoHandler.update_item, DynamoDBBackend.update_item

    def atomic_handler(self: Any) -> Any:
        with seen.lock:
            return real_handler(self)

    def sampled_update(self: Any, *args: Any, **kwargs: Any) -> Any:
        item = real_update(self, *args, **kwargs)  # inside atomic_handler's lock
        if item.attrs["pk"].value == f"key#{KEY_ID}":
            days = [int(v.value) for k, v in item.attrs.items() if k.startswith("d_")]
            seen.committed.append(max(days, default=0))
        return item

    monkeypatch.setattr(DynamoHandler, "update_item", atomic_handler)
    monkeypatch.setattr(DynamoDBBackend, "update_item", sampled_update)
    with mock_aws():
        yield seen


def ledger_item() -> dict[str, Any]:
    client = boto3.client("dynamodb", region_name="us-east-1")
    key = {"pk": {"S": f"key#{KEY_ID}"}, "sk": {"S": "ledger"}}
    return client.get_item(TableName=GOVERNANCE, Key=key, ConsistentRead=True)["Item"]


def gateway(config: Path) -> Any:
    """One gateway instance: its own clients on the shared tables."""
    client = boto3.client("dynamodb", region_name="us-east-1")
    stores = memory_stores()
    stores.policies = DynamoDBPolicyStore(GOVERNANCE, client)
    stores.ledger = Ledger(DynamoDBLedgerBackend(GOVERNANCE, client))
    stores.ledger_scope = Scope
    stores.spend = DynamoDBSpendBackend(METRICS, client)
    settings = Settings(config=str(config), api_keys=KEY, attempts_per_model=1, hedge=False)
    return build_services(settings, {"ALPHA_KEY": "sk-alpha-0123456789"}, stores=stores)


async def test_fifty_concurrent_requests_on_three_gateways_never_overshoot(
    tmp_path: Path, sampled: Sampled
) -> None:
    # Given a key whose day budget fits about 20 calls' worst case, in the shared table
    client = boto3.client("dynamodb", region_name="us-east-1")
    create_tables(client, {"governance": GOVERNANCE, "metrics": METRICS})
    prompt = [{"role": "user", "content": "question 0"}]
    estimate = estimate_prompt_tokens(ChatRequest(model="alpha/m1", messages=prompt))
    worst = worst_case_nanos(PRICED, estimate, MAX_TOKENS)
    budget = Decimal(worst * 20 + 7) / 1_000_000_000
    await DynamoDBPolicyStore(GOVERNANCE, client).put_key(
        KeyPolicy(key_id=KEY_ID, budget_day_usd=budget)
    )
    async with started({"alpha": FakeUpstream(responder=answer)}) as fakes:
        upstream = fakes["alpha"]
        config = providers_file(tmp_path, {"alpha": ("openai", f"{upstream.base_url}/v1", MODEL)})
        services = [gateway(config) for _ in range(INSTANCES)]
        clients = [
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=create_app(s)),
                base_url="http://gateway",
                headers={"authorization": f"Bearer {KEY}"},
                timeout=30.0,
            )
            for s in services
        ]

        async def ask(n: int) -> httpx.Response:
            body = {
                "model": "alpha/m1",
                "max_tokens": MAX_TOKENS,
                "messages": [{"role": "user", "content": f"question {n}"}],
            }
            return await clients[n % INSTANCES].post("/v1/chat/completions", json=body)

        # When 50 requests arrive at once, spread over the three gateways
        try:
            answers = await asyncio.gather(*(ask(n) for n in range(REQUESTS)))
        finally:
            for c in clients:
                await c.aclose()
            for s in services:
                await s.aclose()
        reached = len(upstream.requests)

    served = [(n, a) for n, a in enumerate(answers) if a.status_code == 200]
    refused = [a for a in answers if a.status_code != 200]
    # Then some were served and the rest refused as over budget, before any upstream call
    assert 15 <= len(served) < REQUESTS and refused  # about 20 fit (prompts differ a little)
    for response in refused:
        assert response.status_code == 429, response.text
        error = response.json()["error"]
        assert error["code"] == "budget_exceeded" and KEY_ID in error["message"]
    assert reached == len(served)
    # And the committed counter never went over the budget, at any update
    assert sampled.committed and max(sampled.committed) <= to_nanos(budget)
    # And at the end nothing is held, and the counter is the exact sum of the answers' costs
    item = ledger_item()
    assert not [name for name in item if name.startswith("h_")]
    day = next(int(v["N"]) for k, v in item.items() if k.startswith("d_"))
    costs = []
    for n, _ in served:
        prompt_tokens, completion = usage_for(f"question {n}")
        costs.append(cost_nanos(PRICED, Usage.of(prompt_tokens, completion)))
    assert day == sum(costs)
    # And the answers' own cost headers add up to the same figure (to the cent and beyond)
    headers = sum(Decimal(a.headers["x-orchestra-cost-usd"]) for _, a in served)
    assert abs(headers - Decimal(day) / 1_000_000_000) < Decimal("0.000001")
    # And the spend rows (what GET /v1/spend reads) hold the same total
    today = time.strftime("%Y-%m-%d", time.gmtime())
    yesterday = time.strftime("%Y-%m-%d", time.gmtime(time.time() - 86400))  # midnight
    rows = await DynamoDBSpendBackend(METRICS, client).query(yesterday, today)
    assert sum(r.cost_nanos for r in rows) == day and sum(r.requests for r in rows) == len(served)
    assert json.dumps([r.key_id for r in rows]).count(KEY_ID) == len(rows)
