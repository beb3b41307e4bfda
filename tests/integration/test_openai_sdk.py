"""The official OpenAI Python SDK against a real local Orchestra server (simulator upstream)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import openai
import pytest

from orchestra.api.app import create_app
from orchestra.compose import build_services
from orchestra.config import Settings

from support.server import free_port, serve_in_thread

KEY = "orch-test-key-123"


@pytest.fixture(scope="module")
def gateway_url() -> Iterator[str]:
    settings = Settings(api_keys=KEY, simulator_latency_scale=0.05)
    app = create_app(build_services(settings, {}))
    with serve_in_thread(app, loop="uvloop", http="httptools") as url:
        yield url


@pytest.fixture
def client(gateway_url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{gateway_url}/v1", api_key=KEY, max_retries=0)


def test_sdk_gets_a_normal_completion_with_usage(client):
    completion = client.chat.completions.create(
        model="auto", messages=[{"role": "user", "content": "What is 6*7?"}]
    )
    assert completion.object == "chat.completion"
    assert completion.model.startswith("simulator/")
    assert (
        "42" in (completion.choices[0].message.content or "")
        or completion.choices[0].message.content
    )
    assert completion.usage is not None and completion.usage.total_tokens > 0
    assert completion.choices[0].finish_reason == "stop"


def test_sdk_with_raw_response_sees_routing_headers(client):
    raw = client.chat.completions.with_raw_response.create(
        model="auto:budget", messages=[{"role": "user", "content": "hello"}]
    )
    route = json.loads(raw.headers["x-orchestra-route"])
    assert route["profile"] == "budget"
    assert raw.headers["x-orchestra-model"] == route["chosen"]
    assert float(raw.headers["x-orchestra-cost-usd"]) > 0


def test_sdk_streams_with_usage(client):
    stream = client.chat.completions.create(
        model="auto",
        messages=[{"role": "user", "content": "What is the capital of France?"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text.startswith("The answer is")
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens > 0


def test_sdk_stream_without_include_usage_has_no_usage_chunk(client):
    stream = client.chat.completions.create(
        model="auto", messages=[{"role": "user", "content": "hi"}], stream=True
    )
    chunks = list(stream)
    assert all(c.choices for c in chunks)
    assert all(c.usage is None for c in chunks)


def test_sdk_errors_are_typed(gateway_url, client):
    bad_key = openai.OpenAI(base_url=f"{gateway_url}/v1", api_key="wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        bad_key.chat.completions.create(model="auto", messages=[{"role": "user", "content": "x"}])
    with pytest.raises(openai.NotFoundError) as info:
        client.chat.completions.create(
            model="no-such-model", messages=[{"role": "user", "content": "x"}]
        )
    assert info.value.code == "model_not_found"
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model="auto", messages=[])


def test_sdk_posts_a_multi_generate_and_reads_a_chat_completion(client):
    from openai.types.chat import ChatCompletion

    # the SDK's generic post: the fused answer parses as an ordinary ChatCompletion
    completion = client.post(
        "/multi-generate",
        cast_to=ChatCompletion,
        body={
            "messages": [{"role": "user", "content": "What is 12 * 12?"}],
            "count": 3,
            "strategy": "vote",
        },
    )
    assert completion.object == "chat.completion"
    assert completion.choices[0].message.content
    assert completion.usage is not None and completion.usage.total_tokens > 0
    extra = completion.model_extra or {}
    assert extra["strategy"] == "vote" and len(extra["results"]) == 3
    assert 0 <= extra["confidence"] <= 1


def test_sdk_multi_generate_errors_are_typed(client):
    from openai.types.chat import ChatCompletion

    with pytest.raises(openai.BadRequestError) as info:
        client.post(
            "/multi-generate",
            cast_to=ChatCompletion,
            body={"messages": [{"role": "user", "content": "x"}], "strategy": "best"},
        )
    assert info.value.param == "strategy"


def test_sdk_lists_models(client):
    ids = [m.id for m in client.models.list()]
    assert "simulator/sim-large" in ids and "auto:quality" in ids


def test_orchestra_serve_starts_with_no_keys_on_uvloop_and_httptools(tmp_path):
    # Given a clean environment with no provider or client keys
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.endswith("_API_KEY") and not k.startswith("ORCHESTRA_")
    }
    port = free_port()
    cmd = [sys.executable, "-m", "orchestra.cli", "serve", "--port", str(port)]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        health = _wait_healthy(f"http://127.0.0.1:{port}/health")
        reply = httpx.post(
            f"http://127.0.0.1:{port}/v1/chat/completions",
            json={"model": "auto", "messages": [{"role": "user", "content": "2+2?"}]},
            timeout=10,
        )
    finally:
        proc.terminate()
        _, stderr = proc.communicate(timeout=10)
    assert health["simulator"] is True and health["event_loop"] == "uvloop"
    assert reply.status_code == 200
    assert "accepts every request" in stderr and "LOCAL SIMULATOR" in stderr


def _wait_healthy(url: str) -> dict:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            return httpx.get(url, timeout=1).json()
        except httpx.HTTPError:
            time.sleep(0.1)
    raise AssertionError("orchestra serve did not become healthy")
