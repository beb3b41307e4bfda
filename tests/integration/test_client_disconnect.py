"""A client that leaves mid-upload is normal: one info line, no error, no traceback."""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn

from orchestra.api.app import create_app
from orchestra.compose import build_services
from orchestra.config import Settings

PARTIAL_UPLOAD = (
    b"POST /v1/chat/completions HTTP/1.1\r\nHost: gw\r\ncontent-type: application/json\r\n"
    b"content-length: 1000\r\n\r\n" + b'{"model": "auto", "messages": [{"role": "us'
)


def _app() -> Any:
    return create_app(build_services(Settings(simulator_latency_scale=0.0), {}))


def _problems(records: list[logging.LogRecord]) -> list[logging.LogRecord]:
    return [r for r in records if r.levelno >= logging.WARNING or r.exc_info]


def _disconnect_lines(records: list[logging.LogRecord]) -> list[logging.LogRecord]:
    return [r for r in records if "disconnected" in r.getMessage()]


async def test_asgi_receive_that_reports_a_disconnect_logs_one_info_line(caplog):
    caplog.set_level(logging.INFO)
    messages = [
        {"type": "http.request", "body": PARTIAL_UPLOAD.split(b"\r\n\r\n")[1], "more_body": True},
        {"type": "http.disconnect"},
    ]

    async def receive() -> dict[str, Any]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/v1/chat/completions",
        "raw_path": b"/v1/chat/completions",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"content-type", b"application/json"), (b"content-length", b"1000")],
        "client": ("127.0.0.1", 5000),
        "server": ("127.0.0.1", 8080),
    }
    # When the client goes away during the upload, Then the app returns normally
    await _app()(scope, receive, send)
    # with one info line and nothing louder
    lines = _disconnect_lines(caplog.records)
    assert [(r.name, r.levelno) for r in lines] == [("orchestra.api", logging.INFO)]
    assert _problems(caplog.records) == []


@contextlib.contextmanager
def _serving(app: Any) -> Iterator[int]:
    config = uvicorn.Config(
        app, host="127.0.0.1", port=0, log_config=None, lifespan="off", http="httptools"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.01)
    assert server.started
    try:
        yield server.servers[0].sockets[0].getsockname()[1]
    finally:
        server.should_exit = True
        thread.join(10)


def test_a_real_client_leaving_mid_upload_is_one_info_line(caplog):
    caplog.set_level(logging.INFO)
    with _serving(_app()) as port:
        # Given a client that sends half its body over a real connection
        with socket.create_connection(("127.0.0.1", port)) as client:
            client.sendall(PARTIAL_UPLOAD)
            time.sleep(0.05)
        # When it hangs up, Then the server logs it once, at info, without a traceback
        deadline = time.monotonic() + 5
        while not _disconnect_lines(caplog.records) and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.1)  # anything logged after the disconnect line would show up here
    assert len(_disconnect_lines(caplog.records)) == 1
    assert _problems(caplog.records) == []
    assert not any("Exception in ASGI application" in r.getMessage() for r in caplog.records)


@pytest.fixture(autouse=True)
def _quiet_uvicorn_startup(caplog):
    """uvicorn's own start/stop lines are info; keep them out of the assertions' way."""
    caplog.set_level(logging.WARNING, logger="uvicorn.error")
