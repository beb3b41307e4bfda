"""Each strategy kind run through the real gateway (in-process over ASGI, as ``orchestra
eval`` composes it, and once over loopback HTTP): what an outcome counts and how a
gateway's error becomes one."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from orchestra.api.app import create_app
from orchestra.compose import build_services
from orchestra.config import Settings
from orchestra.evaluation.client import GatewayClient
from orchestra.evaluation.estimate import Price, estimate, pricing_from
from orchestra.evaluation.execute import Executor
from orchestra.evaluation.records import Item, Outcome
from orchestra.evaluation.strategies import parse

from support.server import serve_in_thread

ITEMS = [
    Item(id=f"q{i}", kind="exact", question=f"What is {a}*{b}?", answer=str(a * b))
    for i, (a, b) in enumerate([(17, 3), (23, 19), (41, 7), (12, 13)])
]


def _settings(**values: Any) -> Settings:
    return Settings(**{"simulator": True, "simulator_latency_scale": 0.0, **values})


@contextlib.asynccontextmanager
async def _in_process(**values: Any) -> AsyncIterator[GatewayClient]:
    app = create_app(build_services(_settings(**values), {}))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://eval") as http:
        # the client's waits on 429/503 off: these tests see what one failure makes
        yield GatewayClient(http, poll_s=0.01, timeout_s=30, retries=0)


@pytest.fixture
async def executor() -> AsyncIterator[Executor]:
    async with _in_process() as client:
        yield Executor(client, max_tokens=256, seed=1)


def _spent(outcome: Outcome) -> None:
    assert outcome.error is None, outcome.error
    assert outcome.answer
    assert outcome.cost_usd > 0
    assert outcome.prompt_tokens > 0 and outcome.completion_tokens > 0
    assert outcome.latency_ms > 0


def _fraction(value: float | None) -> bool:
    return value is not None and 0.0 <= value <= 1.0


async def test_single_is_one_call_with_the_routed_model(executor: Executor) -> None:
    outcome = await executor.run(parse("sim-large"), ITEMS[0])
    _spent(outcome)
    assert outcome.calls == 1 and outcome.model == "simulator/sim-large"
    assert outcome.samples == [] and outcome.confidence is None


async def test_a_profile_is_routed_by_the_gateway(executor: Executor) -> None:
    outcome = await executor.run(parse("auto:budget"), ITEMS[1])
    _spent(outcome)
    assert outcome.model is not None and outcome.model.startswith("simulator/")


async def test_sample_makes_k_calls_and_votes(executor: Executor) -> None:
    outcome = await executor.run(parse("sample(sim-small, k=3)"), ITEMS[1])
    _spent(outcome)
    assert outcome.calls == 3 and len(outcome.samples) == 3
    assert outcome.answer in {s.answer for s in outcome.samples}
    assert _fraction(outcome.agreement) and outcome.confidence == outcome.agreement
    share = sum(s.answer == outcome.answer for s in outcome.samples) / 3
    assert outcome.agreement == pytest.approx(share, abs=1e-4)


async def test_samples_differ_across_seeds_for_some_item(tmp_path: Path) -> None:
    # Given the simulator answering the items from an oracle (sim-small right 60% of the time)
    oracle = tmp_path / "oracle.jsonl"
    oracle.write_text(
        "".join(json.dumps({"question": i.question, "answer": i.answer}) + "\n" for i in ITEMS)
    )
    strategy = parse("sample(sim-small, k=5)")
    async with _in_process(simulator_oracle=str(oracle)) as client:
        executor = Executor(client, seed=1)
        outcomes = [await executor.run(strategy, item) for item in ITEMS]
    # Then the k samples (seeds S..S+4) are independent draws: some item gets different answers
    assert all(o.error is None for o in outcomes)
    assert any(len({s.answer for s in o.samples}) > 1 for o in outcomes)


@pytest.mark.parametrize(("fusion", "calls"), [("vote", 3), ("judge", 4)])
async def test_panel_is_one_multi_generate(executor: Executor, fusion: str, calls: int) -> None:
    outcome = await executor.run(
        parse(f"panel(sim-large, sim-medium, sim-small, fusion={fusion})"), ITEMS[2]
    )
    _spent(outcome)
    assert outcome.calls == calls
    assert [s.model for s in outcome.samples] == [
        "simulator/sim-large",
        "simulator/sim-medium",
        "simulator/sim-small",
    ]
    assert _fraction(outcome.confidence) and _fraction(outcome.agreement)


async def test_debate_counts_turns_and_rounds(executor: Executor) -> None:
    outcome = await executor.run(parse("debate(sim-large, sim-small, rounds=2)"), ITEMS[0])
    _spent(outcome)
    assert outcome.rounds is not None and 1 <= outcome.rounds <= 2
    assert outcome.calls == len(outcome.samples) + 1
    assert {s.round for s in outcome.samples} == set(range(1, outcome.rounds + 1))
    assert _fraction(outcome.confidence) and outcome.confidence == outcome.agreement


async def test_an_unknown_model_is_a_final_error(executor: Executor) -> None:
    outcome = await executor.run(parse("no-such-model"), ITEMS[0])
    assert outcome.error is not None and outcome.error.startswith("404 model_not_found")
    assert outcome.retryable is False and outcome.answer is None
    assert outcome.calls == 0  # refused before any upstream call


async def test_an_upstream_outage_is_retryable() -> None:
    async with _in_process(simulator_failure_rate=1.0) as client:
        outcome = await Executor(client).run(parse("sample(sim-large, k=2)"), ITEMS[0])
        single = await Executor(client).run(parse("sim-large"), ITEMS[0])
    assert outcome.error is not None and outcome.error.startswith("2 of 2 samples failed: 5")
    assert outcome.retryable is True and len(outcome.samples) == 2
    # the gateway's retries before it gave up are calls made (x-orchestra-attempts)
    assert outcome.calls >= 2 and single.calls >= 1 and single.error is not None


def _answering(status: int | None) -> GatewayClient:
    def handler(request: httpx.Request) -> httpx.Response:
        if status is None:
            raise httpx.ConnectError("refused", request=request)
        body = {"error": {"message": "busy", "type": "api_error", "code": "overloaded"}}
        return httpx.Response(status, json=body)

    http = httpx.AsyncClient(transport=httpx.MockTransport(handler), base_url="http://eval")
    return GatewayClient(http, retries=0)


@pytest.mark.parametrize(("status", "error"), [(503, "503 overloaded: busy"), (None, "0 ")])
async def test_a_503_or_a_refused_connection_is_retryable(status: int | None, error: str) -> None:
    outcome = await Executor(_answering(status)).run(parse("sim-large"), ITEMS[0])
    assert outcome.error is not None and outcome.error.startswith(error)
    assert outcome.retryable is True


async def test_single_over_loopback_http_with_a_key() -> None:
    app = create_app(build_services(_settings(api_keys="sk-eval-test"), {}))
    with serve_in_thread(app, lifespan="off") as base:
        keyed = {"authorization": "Bearer sk-eval-test"}
        async with httpx.AsyncClient(base_url=base, headers=keyed) as http:
            outcome = await Executor(GatewayClient(http)).run(parse("sim-medium"), ITEMS[3])
        async with httpx.AsyncClient(base_url=base) as http:
            refused = await Executor(GatewayClient(http)).run(parse("sim-medium"), ITEMS[3])
    _spent(outcome)
    assert outcome.calls == 1
    assert refused.error is not None and refused.error.startswith("401 ")
    assert refused.retryable is False


async def test_the_estimate_prices_from_the_gateway_and_bounds_a_real_run(
    executor: Executor,
) -> None:
    pricing = pricing_from(await executor.client.models())
    assert pricing.price("sim-large") == Price(3e-6, 1.5e-5)
    strategy = parse("panel(sim-large, sim-small)")
    spent = await executor.run(strategy, ITEMS[0])
    found = estimate([strategy], ITEMS[:1], pricing, max_tokens=executor.max_tokens)
    assert found.unpriced == [] and 0 < spent.cost_usd <= found.worst_usd


def _debating(final: str | None) -> GatewayClient:
    """A gateway whose debate stays RUNNING (final None) or ends as ``final``."""
    view = {"id": "dbt_1", "status": final or "RUNNING", "rounds": [], "error": "all turns failed"}

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            started = {"id": "dbt_1", "status": "RUNNING", "status_url": "/v1/debates/dbt_1"}
            return httpx.Response(202, json=started)
        return httpx.Response(200, json={**view, "usage": {"prompt_tokens": 0}})

    http = httpx.AsyncClient(transport=httpx.MockTransport(handler), base_url="http://eval")
    return GatewayClient(http, poll_s=0.01, timeout_s=0.05)


@pytest.mark.parametrize(("final", "error"), [(None, "0 timeout"), ("FAILED", "0 debate_failed")])
async def test_a_debate_that_never_ends_or_fails_is_retryable(
    final: str | None, error: str
) -> None:
    outcome = await Executor(_debating(final)).run(parse("debate(a, b)"), ITEMS[0])
    assert outcome.error is not None and outcome.error.startswith(error)
    assert outcome.retryable is True and outcome.answer is None
