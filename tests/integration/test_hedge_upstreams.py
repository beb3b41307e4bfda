"""Hedging against real HTTP upstreams on 127.0.0.1: a hung first deployment costs its hedge
delay, not a share of the deadline, and the losing attempt's connection is closed.

Two OpenAI-compatible providers serving ``m1`` (``alpha`` preferred, ``beta`` behind it),
whose catalog latency (50 ms) makes the cold hedge delay the 0.25 s minimum.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from orchestra.config import Settings

from support.gateway import gateway_client, openai_providers, started
from support.upstream import FakeUpstream, Reply

KEYS = {"ALPHA_KEY": "sk-alpha-0123456789abcdef", "BETA_KEY": "sk-beta-fedcba9876543210"}
CHAT = {
    "model": "alpha/m1",
    "fallbacks": ["beta/m1"],
    "messages": [{"role": "user", "content": "Say hello"}],
}
#: without a hedge, a hung alpha held the request for its share of the 5 s deadline (3.5 s)
WELL_UNDER = 1.5


def _config(tmp_path: Path, alpha: str, beta: str) -> Path:
    def model(quality: int) -> dict[str, Any]:
        return {"id": "m1", "context_window": 128000, "quality": quality, "latency_ms": 50}

    return openai_providers(tmp_path, {"alpha": (alpha, model(1400)), "beta": (beta, model(1300))})


@pytest.fixture
async def upstreams() -> AsyncIterator[tuple[FakeUpstream, FakeUpstream]]:
    async with started({"alpha": FakeUpstream(), "beta": FakeUpstream()}) as fakes:
        yield fakes["alpha"], fakes["beta"]


@contextlib.asynccontextmanager
async def _client(
    tmp_path: Path, upstreams: tuple[FakeUpstream, FakeUpstream]
) -> AsyncIterator[httpx.AsyncClient]:
    alpha, beta = upstreams
    settings = Settings(
        config=str(_config(tmp_path, alpha.base_url, beta.base_url)),
        request_deadline_s=5.0,
        attempts_per_model=1,
    )
    async with gateway_client(settings, KEYS) as client:
        yield client


async def _seen_disconnect(upstream: FakeUpstream) -> bool:
    """Whether ``upstream`` saw its client close the connection (it polls every 10 ms)."""
    for _ in range(100):
        if upstream.disconnected:
            return True
        await asyncio.sleep(0.01)
    return False


def _hedge(response: httpx.Response) -> dict[str, str]:
    parts = response.headers["x-orchestra-hedge"].split(";")
    assert parts[0] == "started"
    return dict(p.split("=", 1) for p in parts[1:])


async def test_a_hung_buffered_upstream_is_hedged_and_its_connection_closed(
    tmp_path, upstreams, recorded
):
    alpha, beta = upstreams
    # Given alpha hangs and beta answers at once
    alpha.enqueue(Reply.json(recorded.bytes("openai/chat_completion_basic.json"), delay=10.0))
    beta.enqueue(Reply.json(recorded.bytes("openai/chat_completion_basic.json")))
    async with _client(tmp_path, upstreams) as client:
        started = time.perf_counter()
        response = await client.post("/v1/chat/completions", json=CHAT)
        elapsed = time.perf_counter() - started
    # Then beta's answer arrives soon after the 0.25 s hedge delay
    assert response.status_code == 200, response.text
    assert response.headers["x-orchestra-model"] == "beta/m1"
    assert elapsed < WELL_UNDER
    hedge = _hedge(response)
    assert hedge == {"delay_ms": "250", "winner": "beta/m1", "loser": "alpha/m1"}
    assert "alpha/m1=cancelled:hedge_lost" in response.headers["x-orchestra-attempts"]
    # and alpha saw the gateway close its connection (no answer paid for nobody)
    assert await _seen_disconnect(alpha)
    assert beta.disconnected == 0


async def test_a_hung_stream_is_hedged_and_its_connection_closed(tmp_path, upstreams, recorded):
    alpha, beta = upstreams
    sse = recorded.bytes("openai/chat_completion_stream_include_usage.sse")
    # Given alpha sends its headers, then nothing; beta streams at once
    alpha.enqueue(Reply.sse(sse, piece=37, pauses={0: 10.0}))
    beta.enqueue(Reply.sse(sse, piece=37))
    async with _client(tmp_path, upstreams) as client:
        started = time.perf_counter()
        body = {**CHAT, "stream": True, "stream_options": {"include_usage": True}}
        response = await client.post("/v1/chat/completions", json=body)
        elapsed = time.perf_counter() - started
    # Then the whole answer is beta's, complete, well under the old time
    assert response.status_code == 200
    assert response.headers["x-orchestra-model"] == "beta/m1"
    assert elapsed < WELL_UNDER
    events = [line[6:] for line in response.text.splitlines() if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    assert all(json.loads(e)["model"] == "beta/m1" for e in events[:-1])
    assert _hedge(response)["winner"] == "beta/m1"
    # and alpha's connection was closed while it was still silent
    assert await _seen_disconnect(alpha)


async def test_the_hedge_loses_to_a_slow_first_answer_and_is_closed(tmp_path, upstreams, recorded):
    alpha, beta = upstreams
    # Given alpha answers after 0.6 s (past the hedge delay) and beta hangs
    alpha.enqueue(Reply.json(recorded.bytes("openai/chat_completion_basic.json"), delay=0.6))
    beta.enqueue(Reply.json(recorded.bytes("openai/chat_completion_basic.json"), delay=10.0))
    async with _client(tmp_path, upstreams) as client:
        response = await client.post("/v1/chat/completions", json=CHAT)
    # Then alpha's answer is the one returned; the hedge on beta was started, then closed
    assert response.status_code == 200
    assert response.headers["x-orchestra-model"] == "alpha/m1"
    assert _hedge(response) == {"delay_ms": "250", "winner": "alpha/m1", "loser": "beta/m1"}
    assert len(beta.requests) == 1
    assert await _seen_disconnect(beta)
