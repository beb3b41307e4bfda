"""Deployments and load balancing against three OpenAI-compatible upstreams on 127.0.0.1
serving the same model ``m1`` (providers ``alpha``, ``beta``, ``gamma``), configured through
an orchestra.yaml file; the gateway app is driven in-process over ASGI."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from orchestra.config import Settings

from support.gateway import gateway_client, started
from support.upstream import FakeUpstream, Reply

NAMES = ("alpha", "beta", "gamma")
KEYS = {f"{name.upper()}_KEY": f"sk-{name}-0123456789" for name in NAMES}
QUOTA_SPENT = {"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "1s"}


def _config(tmp_path: Path, urls: dict[str, str], deployments: dict[str, Any]) -> Path:
    providers = [
        {
            "name": name,
            "type": "openai",
            "base_url": f"{url}/v1",
            "api_key_env": f"{name.upper()}_KEY",
            "models": [{"id": "m1", "context_window": 128000, "quality": 1300}],
        }
        for name, url in urls.items()
    ]
    path = tmp_path / "orchestra.yaml"
    path.write_text(json.dumps({"providers": providers, "deployments": deployments}))
    return path


@pytest.fixture
async def upstreams(recorded) -> AsyncIterator[dict[str, FakeUpstream]]:
    answer = Reply.json(recorded.bytes("openai/chat_completion_basic.json"))
    async with started({name: FakeUpstream(default=answer) for name in NAMES}) as fakes:
        yield fakes


@contextlib.asynccontextmanager
async def _client(
    tmp_path: Path, upstreams: dict[str, FakeUpstream], deployments: dict[str, Any], **settings: Any
) -> AsyncIterator[httpx.AsyncClient]:
    urls = {name: fake.base_url for name, fake in upstreams.items()}
    config = Settings(config=str(_config(tmp_path, urls, deployments)), **settings)
    async with gateway_client(config, KEYS) as client:
        yield client


async def _ask(client: httpx.AsyncClient, model: str = "m1") -> httpx.Response:
    body = {"model": model, "messages": [{"role": "user", "content": "Say hello"}]}
    response = await client.post("/v1/chat/completions", json=body)
    assert response.status_code == 200, response.text
    return response


def _served(upstreams: dict[str, FakeUpstream]) -> dict[str, int]:
    return {name: len(fake.requests) for name, fake in upstreams.items()}


async def test_weighted_traffic_splits_as_configured_and_the_route_header_says_why(
    tmp_path, upstreams
):
    # Given m1 declared with alpha at weight 3 and beta at weight 1 (gamma not a target)
    deployments = {
        "m1": {"strategy": "weighted", "targets": [{"provider": "alpha", "weight": 3}, {"provider": "beta"}]}
    }  # fmt: skip
    async with _client(tmp_path, upstreams, deployments) as client:
        # When eight requests name the model
        responses = [await _ask(client) for _ in range(8)]
    # Then the traffic splits 6:2, interleaved, and gamma is not a deployment of m1
    assert _served(upstreams) == {"alpha": 6, "beta": 2, "gamma": 0}
    models = [r.headers["x-orchestra-model"] for r in responses]
    assert models[:4] == ["alpha/m1", "alpha/m1", "beta/m1", "alpha/m1"]
    # And each answer's x-orchestra-route carries the decision
    route = json.loads(responses[2].headers["x-orchestra-route"])
    assert route["chain"] == ["beta/m1", "alpha/m1"]
    (decision,) = route["deployments"]
    assert decision["model"] == "m1" and decision["strategy"] == "weighted"
    assert decision["choice"] == "beta/m1" == models[2]
    assert [c["deployment"] for c in decision["candidates"]] == ["beta/m1", "alpha/m1"]
    assert all(isinstance(c["score"], float) for c in decision["candidates"])


async def test_a_provider_qualified_id_pins_its_deployment(tmp_path, upstreams):
    # Given the same three deployments grouped automatically, balanced round-robin
    async with _client(tmp_path, upstreams, {}, lb_strategy="round_robin") as client:
        responses = [await _ask(client, "gamma/m1") for _ in range(3)]
    # Then every request goes to gamma, the others behind it as its fallbacks
    assert _served(upstreams) == {"alpha": 0, "beta": 0, "gamma": 3}
    route = json.loads(responses[0].headers["x-orchestra-route"])
    assert route["chain"][0] == "gamma/m1" and set(route["chain"]) == {
        "alpha/m1",
        "beta/m1",
        "gamma/m1",
    }
    assert route["deployments"][0]["candidates"][0] == {"deployment": "gamma/m1", "pinned": True}


async def test_streamed_answers_carry_the_decision_too(tmp_path, upstreams, recorded):
    sse = Reply.sse(recorded.bytes("openai/chat_completion_stream_include_usage.sse"))
    for fake in upstreams.values():
        fake.default = sse
    async with _client(tmp_path, upstreams, {}, lb_strategy="round_robin") as client:
        body = {"model": "m1", "stream": True, "messages": [{"role": "user", "content": "Hi"}]}
        async with client.stream("POST", "/v1/chat/completions", json=body) as response:
            assert response.status_code == 200
            _ = [line async for line in response.aiter_lines()]
            route = json.loads(response.headers["x-orchestra-route"])
    assert route["deployments"][0]["strategy"] == "round_robin"
    assert route["deployments"][0]["choice"] == response.headers["x-orchestra-model"]


async def test_a_spent_quota_gets_no_traffic_until_its_reset(tmp_path, upstreams, recorded):
    # Given alpha's first answer says its request quota is spent for one second
    answer = recorded.bytes("openai/chat_completion_basic.json")
    upstreams["alpha"].enqueue(Reply.json(answer, headers=QUOTA_SPENT))
    async with _client(tmp_path, upstreams, {}, lb_strategy="round_robin") as client:
        first = await _ask(client)
        assert first.headers["x-orchestra-model"] == "alpha/m1"  # its turn
        # When more requests come within the second
        during = [(await _ask(client)).headers["x-orchestra-model"] for _ in range(6)]
        # Then none goes to alpha, and the trace says it is cooling
        assert "alpha/m1" not in during and _served(upstreams)["alpha"] == 1
        route = json.loads((await _ask(client)).headers["x-orchestra-route"])
        assert route["deployments"][0]["candidates"][-1]["deployment"] == "alpha/m1"
        assert route["deployments"][0]["candidates"][-1]["cooling"] is True
        # And after the reset it gets its turns again
        await asyncio.sleep(1.1)
        after = [(await _ask(client)).headers["x-orchestra-model"] for _ in range(3)]
    assert "alpha/m1" in after
