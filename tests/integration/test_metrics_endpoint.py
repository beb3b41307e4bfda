"""``GET /metrics`` on ``orchestra serve``: real requests through the app, the body parsed
by ``prometheus_client``'s own parser."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from orchestra.cli import main
from orchestra.config import Settings, get_settings

from support.gateway import openai_providers, started
from support.served import served_client
from support.upstream import FakeUpstream, Reply

CHAT = {"model": "auto", "messages": [{"role": "user", "content": "hi"}]}
ROUTE = "/v1/chat/completions"


def samples(body: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of the exposition: (name, labels) -> value."""
    found = {}
    for family in text_string_to_metric_families(body):
        for sample in family.samples:
            found[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return found


def value(found: dict[Any, float], name: str, **labels: str) -> float:
    return found.get((name, frozenset(labels.items())), 0.0)


@pytest.fixture
def serve(monkeypatch: pytest.MonkeyPatch) -> Any:
    """``orchestra serve`` up to uvicorn.run, which hands over the app instead of serving."""
    import uvicorn

    seen: dict[str, Any] = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: seen.update(app=app, **kw))
    monkeypatch.setenv("ORCHESTRA_SIMULATOR_LATENCY_SCALE", "0")
    get_settings.cache_clear()

    def run(*args: str) -> Any:
        assert main(["serve", *args]) == 0
        return seen["app"]

    yield run
    get_settings.cache_clear()


async def test_metrics_count_requests_latency_ttft_tokens_and_cost(serve):
    # Given `orchestra serve` (the simulator answers; `prometheus` is on by default)
    transport = httpx.ASGITransport(app=serve())
    async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
        # When an answer, a stream (with its usage) and a malformed request are served
        answered = await client.post(ROUTE, json=CHAT)
        streamed = await client.post(
            ROUTE, json={**CHAT, "stream": True, "stream_options": {"include_usage": True}}
        )
        refused = await client.post(ROUTE, content=b"{not json")
        scraped = await client.get("/metrics")
    assert answered.status_code == streamed.status_code == 200
    assert refused.status_code == 400
    # Then /metrics is Prometheus' text format, ungated, and parses
    assert scraped.status_code == 200
    assert scraped.headers["content-type"].startswith("text/plain; version=0.0.4")
    found = samples(scraped.text)
    model, provider = (
        answered.headers["x-orchestra-model"],
        answered.headers["x-orchestra-provider"],
    )
    assert streamed.headers["x-orchestra-model"] == model  # the simulator's choice is stable
    labels = {"route": ROUTE, "model": model, "provider": provider}
    # requests by route, model, provider and status; the refusal has no model
    assert value(found, "orchestra_requests_total", **labels, status="200") == 2
    assert (
        value(found, "orchestra_requests_total", route=ROUTE, model="-", provider="-", status="400")
        == 1
    )
    # the latency histogram saw both answers; its buckets are cumulative up to +Inf
    assert value(found, "orchestra_request_duration_seconds_count", **labels) == 2
    assert value(found, "orchestra_request_duration_seconds_bucket", **labels, le="+Inf") == 2
    assert value(found, "orchestra_request_duration_seconds_sum", **labels) > 0
    # time to first token: the stream only
    assert value(found, "orchestra_time_to_first_token_seconds_count", **labels) == 1
    assert value(found, "orchestra_time_to_first_token_seconds_bucket", **labels, le="+Inf") == 1
    # tokens and cost are what the two answers reported
    stream_usage = _stream_usage(streamed.text)
    usage = answered.json()["usage"]
    prompt = usage["prompt_tokens"] + stream_usage["prompt_tokens"]
    completion = usage["completion_tokens"] + stream_usage["completion_tokens"]
    assert value(found, "orchestra_tokens_total", model=model, kind="prompt") == prompt
    assert value(found, "orchestra_tokens_total", model=model, kind="completion") == completion
    cost = value(found, "orchestra_cost_usd_total", model=model)
    assert cost >= float(answered.headers["x-orchestra-cost-usd"])
    # each answer was one successful upstream attempt; its breaker is closed
    ok = {"model": model, "provider": provider, "outcome": "ok"}
    assert value(found, "orchestra_upstream_attempts_total", **ok) == 2
    assert found[("orchestra_breaker_state", frozenset({("model", model)}))] == 0.0


def _stream_usage(text: str) -> dict[str, int]:
    import json

    events = [line[6:] for line in text.splitlines() if line.startswith("data: {")]
    usages = [json.loads(e)["usage"] for e in events if '"usage"' in e]
    assert usages, text
    return dict(usages[-1])


async def test_metrics_can_be_turned_off(serve, monkeypatch):
    # Given `orchestra serve` with ORCHESTRA_PROMETHEUS=false
    monkeypatch.setenv("ORCHESTRA_PROMETHEUS", "false")
    transport = httpx.ASGITransport(app=serve())
    async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
        # Then there is no /metrics route at all
        assert (await client.get("/metrics")).status_code == 404


KEYS = {"ALPHA_KEY": "sk-alpha-0123456789abcdef", "BETA_KEY": "sk-beta-fedcba9876543210"}


@pytest.fixture
async def upstreams() -> AsyncIterator[tuple[FakeUpstream, FakeUpstream]]:
    async with started({"alpha": FakeUpstream(), "beta": FakeUpstream()}) as fakes:
        yield fakes["alpha"], fakes["beta"]


@contextlib.asynccontextmanager
async def _two_models(
    tmp_path: Path, upstreams: tuple[FakeUpstream, FakeUpstream], **settings: Any
) -> AsyncIterator[httpx.AsyncClient]:
    alpha, beta = upstreams

    def model(name: str, quality: int) -> dict[str, Any]:
        return {"id": name, "context_window": 128000, "quality": quality, "latency_ms": 50}

    config = openai_providers(
        tmp_path,
        {"alpha": (alpha.base_url, model("m1", 1400)), "beta": (beta.base_url, model("m2", 1300))},
    )
    options = {"request_deadline_s": 5.0, "attempts_per_model": 1, **settings}
    async with served_client(Settings(config=str(config), **options), KEYS) as client:
        yield client


async def test_fallbacks_breakers_and_hedges_are_counted(tmp_path, upstreams, recorded):
    alpha, beta = upstreams
    answer = recorded.bytes("openai/chat_completion_basic.json")
    error = recorded.bytes("openai/error_500_server_error.json")
    # Given alpha fails once (its breaker opens at the first failure), then hangs
    alpha.enqueue(Reply.json(error, status=500), Reply.json(answer, delay=10.0))
    beta.enqueue(Reply.json(answer), Reply.json(answer))
    chat = {**CHAT, "model": "alpha/m1", "fallbacks": ["beta/m2"]}
    async with _two_models(
        tmp_path, upstreams, breaker_failures=1, breaker_cooldown_s=0.2
    ) as client:
        # When the first request falls back to beta
        first = await client.post(ROUTE, json=chat)
        found = samples((await client.get("/metrics")).text)
        # Then the failure, the fallback and the open breaker are counted
        assert first.status_code == 200 and first.headers["x-orchestra-model"] == "beta/m2"
        failed = {"model": "alpha/m1", "provider": "alpha", "outcome": "upstream_server_error"}
        assert value(found, "orchestra_upstream_attempts_total", **failed) == 1
        assert value(found, "orchestra_fallbacks_total", model="beta/m2") == 1
        assert value(found, "orchestra_breaker_opened_total", model="alpha/m1") == 1
        assert found[("orchestra_breaker_state", frozenset({("model", "alpha/m1")}))] == 2.0
        labels = {"route": ROUTE, "model": "beta/m2", "provider": "beta", "status": "200"}
        assert value(found, "orchestra_requests_total", **labels) == 1
        # When, after the cooldown, alpha's probe hangs and a hedge to beta answers
        import asyncio

        await asyncio.sleep(0.25)
        second = await client.post(ROUTE, json=chat)
        found = samples((await client.get("/metrics")).text)
    # Then the hedge is counted against the attempt it ran beside, won by the hedge
    assert second.status_code == 200, second.text
    assert "x-orchestra-hedge" in second.headers, dict(second.headers)
    assert value(found, "orchestra_hedges_total", model="alpha/m1", won="true") == 1
