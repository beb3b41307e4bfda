"""Fault injection against real HTTP upstreams on 127.0.0.1 replaying recorded payloads.

Two OpenAI-compatible providers (``alpha`` preferred, ``beta`` behind it) configured through
an orchestra.yaml file; the gateway app is driven in-process over ASGI.
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
from support.replay import stream_cut_by_an_in_band_error
from support.upstream import FakeUpstream, Reply

ALPHA_KEY = "sk-alpha-0123456789abcdef"
BETA_KEY = "sk-beta-fedcba9876543210"
CHAT = {"model": "alpha/m1", "messages": [{"role": "user", "content": "Say hello"}]}


def _config(tmp_path: Path, alpha: str, beta: str) -> Path:
    def model(name: str, quality: int) -> dict[str, Any]:
        return {"id": name, "context_window": 128000, "quality": quality}

    # two models (not two deployments of one: tests/integration/test_deployments.py)
    models = {"alpha": (alpha, model("m1", 1400)), "beta": (beta, model("m2", 1300))}
    return openai_providers(tmp_path, models)


@pytest.fixture
async def upstreams() -> AsyncIterator[tuple[FakeUpstream, FakeUpstream]]:
    async with started({"alpha": FakeUpstream(), "beta": FakeUpstream()}) as fakes:
        yield fakes["alpha"], fakes["beta"]


@contextlib.asynccontextmanager
async def _client(
    tmp_path: Path, upstreams: tuple[FakeUpstream, FakeUpstream], **settings: Any
) -> AsyncIterator[httpx.AsyncClient]:
    alpha, beta = upstreams
    defaults: dict[str, Any] = {"request_deadline_s": 5.0, "breaker_cooldown_s": 30.0}
    config = Settings(
        config=str(_config(tmp_path, alpha.base_url, beta.base_url)), **{**defaults, **settings}
    )
    async with gateway_client(config, {"ALPHA_KEY": ALPHA_KEY, "BETA_KEY": BETA_KEY}) as client:
        yield client


def _chat(**extra: Any) -> dict[str, Any]:
    return {**CHAT, "fallbacks": ["beta/m2"], **extra}


def _no_keys(response: httpx.Response) -> None:
    blob = response.text + json.dumps(dict(response.headers))
    assert ALPHA_KEY not in blob and BETA_KEY not in blob


async def test_server_errors_fall_back_to_the_next_model(tmp_path, upstreams, recorded):
    alpha, beta = upstreams
    # Given alpha answers 500 (recorded body) on every try and beta answers normally
    error = recorded.bytes("openai/error_500_server_error.json")
    alpha.enqueue(Reply.json(error, status=500), Reply.json(error, status=500))
    beta.enqueue(Reply.json(recorded.bytes("openai/chat_completion_basic.json")))
    async with _client(tmp_path, upstreams, attempts_per_model=2) as client:
        # When a request names alpha with beta as fallback
        response = await client.post("/v1/chat/completions", json=_chat())
    # Then beta's answer comes back and the headers say what happened
    assert response.status_code == 200, response.text
    assert (
        response.json()["choices"][0]["message"]["content"] == "Hello! How can I assist you today?"
    )
    assert response.headers["x-orchestra-model"] == "beta/m2"
    attempts = response.headers["x-orchestra-attempts"].split(";")
    assert [a.split("=")[0] for a in attempts] == ["alpha/m1", "alpha/m1", "beta/m2"]
    assert "ServerError 500" in attempts[0]
    assert (
        len(alpha.requests) == 2
        and alpha.requests[0]["headers"]["authorization"] == f"Bearer {ALPHA_KEY}"
    )
    _no_keys(response)


async def test_rate_limit_retry_after_is_honoured_on_the_same_model(tmp_path, upstreams, recorded):
    alpha, _ = upstreams
    # Given alpha is rate limited once, asking to wait 300 ms
    limited = Reply.json(
        recorded.bytes("openai/error_429_rate_limit_exceeded.json"),
        status=429,
        headers={"retry-after-ms": "300"},
    )
    alpha.enqueue(limited, Reply.json(recorded.bytes("openai/chat_completion_basic.json")))
    async with _client(tmp_path, upstreams, attempts_per_model=2) as client:
        started = time.perf_counter()
        response = await client.post("/v1/chat/completions", json=_chat())
        elapsed = time.perf_counter() - started
    # Then the second try on alpha succeeds, after at least the requested wait
    assert response.status_code == 200
    assert response.headers["x-orchestra-model"] == "alpha/m1"
    assert elapsed >= 0.3
    assert "RateLimited 429" in response.headers["x-orchestra-attempts"]


async def test_timeouts_and_malformed_bodies_fall_back(tmp_path, upstreams, recorded):
    alpha, beta = upstreams
    # Given alpha first hangs past its budget, then sends a body that is not JSON
    alpha.enqueue(Reply.json(b"{}", delay=10.0), Reply(status=200, body=b"<html>oops</html>"))
    beta.enqueue(Reply.json(recorded.bytes("openai/chat_completion_basic.json")))
    settings = {"attempts_per_model": 2, "request_deadline_s": 5.0, "hedge": False}
    async with _client(tmp_path, upstreams, **settings) as client:
        response = await client.post("/v1/chat/completions", json=_chat())
    assert response.status_code == 200, response.text
    outcomes = response.headers["x-orchestra-attempts"]
    assert "ProviderTimeout" in outcomes and "MalformedResponse" in outcomes
    assert response.headers["x-orchestra-model"] == "beta/m2"


async def test_client_errors_are_not_retried_elsewhere(tmp_path, upstreams, recorded):
    alpha, beta = upstreams
    alpha.enqueue(Reply.json(recorded.bytes("openai/error_400_unsupported_value.json"), status=400))
    async with _client(tmp_path, upstreams) as client:
        response = await client.post("/v1/chat/completions", json=_chat())
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"
    assert beta.requests == []


async def test_all_candidates_failing_answers_502_in_openai_shape(tmp_path, upstreams, recorded):
    alpha, beta = upstreams
    error = recorded.bytes("openai/error_500_server_error.json")
    alpha.default = beta.default = Reply.json(error, status=500)
    async with _client(tmp_path, upstreams, attempts_per_model=1) as client:
        response = await client.post("/v1/chat/completions", json=_chat())
    assert response.status_code == 502
    body = response.json()
    assert set(body["error"]) == {"message", "type", "param", "code"}
    assert body["error"]["code"] == "all_candidates_failed"
    assert "alpha/m1" in response.headers["x-orchestra-attempts"]
    _no_keys(response)


async def test_breaker_opens_then_recovers_with_one_probe(tmp_path, upstreams, recorded):
    alpha, beta = upstreams
    ok = recorded.bytes("openai/chat_completion_basic.json")
    error = recorded.bytes("openai/error_503_overloaded.json")
    beta.default = Reply.json(ok)
    alpha.enqueue(*[Reply.json(error, status=503)] * 2)
    settings = {"attempts_per_model": 1, "breaker_failures": 2, "breaker_cooldown_s": 0.6}
    async with _client(tmp_path, upstreams, **settings) as client:
        # Given two failures open alpha's breaker
        for _ in range(2):
            assert (await client.post("/v1/chat/completions", json=_chat())).status_code == 200
        # When the next request comes during the cooldown, alpha is not called at all
        skipped = await client.post("/v1/chat/completions", json=_chat())
        route = json.loads(skipped.headers["x-orchestra-route"])
        assert {"model": "alpha/m1", "reason": "breaker_open"} in route["rejected"]
        assert skipped.headers["x-orchestra-attempts"].startswith("beta/m2=ok")
        assert len(alpha.requests) == 2
        # After the cooldown one probe goes to alpha, which has recovered
        await asyncio.sleep(0.7)
        alpha.enqueue(Reply.json(ok))
        probe = await client.post("/v1/chat/completions", json=_chat())
        assert probe.headers["x-orchestra-model"] == "alpha/m1"
        # And the breaker is closed again: alpha serves the next request directly
        alpha.enqueue(Reply.json(ok))
        after = await client.post("/v1/chat/completions", json=_chat())
        assert after.headers["x-orchestra-attempts"].startswith("alpha/m1=ok")


async def test_all_breakers_open_waits_for_the_soonest_cooldown(tmp_path, upstreams, recorded):
    alpha, beta = upstreams
    error = recorded.bytes("openai/error_500_server_error.json")
    ok = recorded.bytes("openai/chat_completion_basic.json")
    alpha.enqueue(Reply.json(error, status=500))
    beta.enqueue(Reply.json(error, status=500))
    settings = {"attempts_per_model": 1, "breaker_failures": 1, "breaker_cooldown_s": 0.5}
    async with _client(tmp_path, upstreams, **settings) as client:
        first = await client.post("/v1/chat/completions", json=_chat())
        assert first.status_code == 502
        # When every breaker is open, the gateway waits for a cooldown instead of refusing
        alpha.default = beta.default = Reply.json(ok)
        started = time.perf_counter()
        response = await client.post("/v1/chat/completions", json=_chat())
    assert response.status_code == 200, response.text
    assert time.perf_counter() - started >= 0.3


async def test_stream_falls_back_before_the_first_byte(tmp_path, upstreams, recorded):
    alpha, beta = upstreams
    alpha.enqueue(Reply.json(recorded.bytes("openai/error_503_overloaded.json"), status=503))
    beta.enqueue(
        Reply.sse(recorded.bytes("openai/chat_completion_stream_include_usage.sse"), piece=37)
    )
    async with _client(tmp_path, upstreams, attempts_per_model=1) as client:
        body = _chat(stream=True, stream_options={"include_usage": True})
        response = await client.post("/v1/chat/completions", json=body)
    assert response.status_code == 200
    assert response.headers["x-orchestra-model"] == "beta/m2"
    events = [line[6:] for line in response.text.splitlines() if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["total_tokens"] > 0
    assert all(c["model"] == "beta/m2" for c in chunks)


async def test_stream_broken_after_first_byte_ends_with_an_error_event(
    tmp_path, upstreams, recorded
):
    alpha, beta = upstreams
    raw = recorded.bytes("openai/chat_completion_stream_include_usage.sse")
    alpha.enqueue(Reply.sse(raw, piece=200, drop_after=2))
    # continuation off: a broken stream that continues is test_stream_continuation.py's
    settings = {"attempts_per_model": 1, "continue_streams": False}
    async with _client(tmp_path, upstreams, **settings) as client:
        response = await client.post("/v1/chat/completions", json=_chat(stream=True))
    events = [line[6:] for line in response.text.splitlines() if line.startswith("data: ")]
    assert "[DONE]" not in events
    last = json.loads(events[-1])
    assert last["error"]["code"] == "stream_interrupted"
    assert beta.requests == []


def _events(response: httpx.Response) -> list[Any]:
    return [json.loads(line[6:]) for line in response.text.splitlines() if line[:6] == "data: "]


async def test_in_band_error_after_a_finish_reaches_the_client_first(tmp_path, upstreams, recorded):
    alpha, _ = upstreams
    # Given an upstream whose stream reports finish "length" twice, then an error object
    raw = stream_cut_by_an_in_band_error(recorded.bytes("openrouter/chat_completion_stream.sse"))
    alpha.enqueue(Reply.sse(raw, piece=40))
    async with _client(tmp_path, upstreams, attempts_per_model=1) as client:
        response = await client.post("/v1/chat/completions", json=_chat(stream=True))
    events = _events(response)
    # Then a client stopping at the first finish_reason meets the error instead
    first_stop = next(e for e in events if "error" in e or e["choices"][0].get("finish_reason"))
    assert "error" in first_stop, events
    assert events[0]["choices"][0]["delta"]["content"] == "Hello!"
    # And the error event carries the upstream's own message; no [DONE] follows it
    assert first_stop is events[-1] and "[DONE]" not in response.text
    assert first_stop["error"]["code"] == "stream_interrupted"
    assert "Token limit reached" in first_stop["error"]["message"]


async def test_in_band_error_before_any_text_is_the_answer_itself(tmp_path, upstreams, recorded):
    alpha, beta = upstreams
    # Given a stream whose only text arrives with its finish, then an in-band error
    raw = stream_cut_by_an_in_band_error(recorded.bytes("openrouter/chat_completion_stream.sse"))
    raw = raw.replace(b'"finish_reason":null', b'"finish_reason":"length"', 1)
    alpha.enqueue(Reply.sse(raw, piece=40))
    async with _client(tmp_path, upstreams, attempts_per_model=1) as client:
        response = await client.post("/v1/chat/completions", json=_chat(stream=True))
    # Then nothing was streamed: the client gets the upstream's error as the answer
    assert response.status_code == 400
    assert response.json()["error"]["message"] == "alpha returned 400: Token limit reached"
    assert beta.requests == []  # the client's request is at fault: no fallback
