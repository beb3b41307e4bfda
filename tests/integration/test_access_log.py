"""``orchestra serve --access-log``: one line per request with method, path, status, latency,
model and attempts."""

from __future__ import annotations

import logging
import os
import re
import socket
import subprocess
import sys
import time
from typing import Any

import httpx
import pytest

from orchestra.cli import main
from orchestra.config import get_settings

CHAT = {"model": "auto", "messages": [{"role": "user", "content": "hi"}]}
LINE = re.compile(
    r"^(?P<method>[A-Z]+) (?P<path>\S+) (?P<status>\d{3}) (?P<ms>\d+)ms "
    r"model=(?P<model>\S+) attempts=(?P<attempts>\S+)$"
)


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """``orchestra serve`` up to uvicorn.run, which hands over the app instead of serving."""
    import uvicorn

    seen: dict[str, Any] = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: seen.update(app=app, **kw))
    monkeypatch.setenv("ORCHESTRA_SIMULATOR_LATENCY_SCALE", "0")
    get_settings.cache_clear()
    yield seen
    get_settings.cache_clear()


def _access_lines(caplog: pytest.LogCaptureFixture) -> list[re.Match[str]]:
    lines = [r.getMessage() for r in caplog.records if r.name == "orchestra.access"]
    matches = [LINE.match(line) for line in lines]
    assert all(matches), lines
    return [m for m in matches if m]


async def test_access_log_writes_one_line_per_request(served, caplog):
    # Given `orchestra serve --access-log`
    assert main(["serve", "--access-log"]) == 0
    transport = httpx.ASGITransport(app=served["app"])
    # When three requests are served (an answer, a stream, an unknown route)
    async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
        answered = await client.post("/v1/chat/completions", json=CHAT)
        streamed = await client.post("/v1/chat/completions", json={**CHAT, "stream": True})
        missing = await client.get("/v1/nothing?key=secret")
    # Then there is one line per request, with what Orchestra chose
    lines = _access_lines(caplog)
    assert [(m["method"], m["path"], m["status"]) for m in lines] == [
        ("POST", "/v1/chat/completions", "200"),
        ("POST", "/v1/chat/completions", "200"),
        ("GET", "/v1/nothing", "404"),
    ]
    assert lines[0]["model"] == answered.headers["x-orchestra-model"]
    assert lines[0]["attempts"] == answered.headers["x-orchestra-attempts"]
    assert lines[1]["model"] == streamed.headers["x-orchestra-model"]
    assert (lines[2]["model"], lines[2]["attempts"]) == ("-", "-")
    assert missing.status_code == 404
    assert all(int(m["ms"]) >= 0 for m in lines)


async def test_without_the_flag_there_is_no_access_line(served, caplog):
    assert main(["serve"]) == 0
    transport = httpx.ASGITransport(app=served["app"])
    async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
        await client.get("/health")
    assert _access_lines(caplog) == []


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.slow
def test_serve_prints_the_access_lines_on_stderr():
    # Given the real `orchestra serve --access-log` (uvicorn at log level warning)
    port = _free_port()
    env = {**os.environ, "ORCHESTRA_SIMULATOR_LATENCY_SCALE": "0"}
    command = [sys.executable, "-m", "orchestra.cli", "serve", "--access-log", "--port", str(port)]
    server = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                httpx.get(f"{base}/health", timeout=1.0)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        # When a chat request is served
        answered = httpx.post(f"{base}/v1/chat/completions", json=CHAT, timeout=10.0)
    finally:
        server.terminate()
        _, err = server.communicate(timeout=10)
    # Then stderr holds one access line for each request
    lines = [line for line in err.decode().splitlines() if "orchestra.access" in line]
    assert len(lines) == 2, err.decode()
    assert "GET /health 200 " in lines[0]
    assert "POST /v1/chat/completions 200 " in lines[1]
    assert f"model={answered.headers['x-orchestra-model']}" in lines[1]
    assert f"attempts={answered.headers['x-orchestra-attempts']}" in lines[1]


@pytest.fixture(autouse=True)
def _info(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
