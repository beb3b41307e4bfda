"""An answer served from the in-process cache (L1), end to end over ``orchestra serve``.

Starts ``orchestra serve`` (uvicorn, as ``make serve`` runs it) on the labelled simulator
with the cache on (``ORCHESTRA_CACHE_TTL_S``), asks one question once (the miss that stores
it), then asks it again and again over one keep-alive HTTP/1.1 connection: every answer a
hit. Reports the client-side p50/p90/p99 (wrk when on PATH, else a tight raw-socket
client: no HTTP library in the loop), and the gateway's own time for the same hit with the
ASGI app called directly in-process (no socket, no uvicorn), so the client's and the
server's shares are visible. Target (issue 19): p50 under 0.3 ms end to end.

Usage: ``python bench/cache_hit.py [--requests 20000]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import free_port, percentile, spawn, wait_for

BODY = json.dumps(
    {
        "model": "auto",
        "messages": [{"role": "user", "content": "What is the capital of Austria?"}],
        "temperature": 0,
    }
).encode()
ENV = {
    "ORCHESTRA_SIMULATOR": "true",
    "ORCHESTRA_SIMULATOR_LATENCY_SCALE": "0",
    "ORCHESTRA_CACHE_TTL_S": "3600",
    "ORCHESTRA_LOG_LEVEL": "WARNING",
}


def request_bytes(port: int) -> bytes:
    head = (
        f"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(BODY)}\r\n\r\n"
    )
    return head.encode() + BODY


def read_response(sock: socket.socket, buffer: bytearray) -> bytes:
    """One HTTP/1.1 response (Content-Length framed) off the connection: its head."""
    while (end := buffer.find(b"\r\n\r\n")) < 0:
        buffer += sock.recv(65536)
    head = bytes(buffer[:end])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    total = end + 4 + length
    while len(buffer) < total:
        buffer += sock.recv(65536)
    del buffer[:total]
    return head


def socket_client(port: int, count: int, payload: bytes | None = None) -> tuple[list[float], bytes]:
    """``count`` requests on one keep-alive connection: each one's milliseconds."""
    payload = payload or request_bytes(port)
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        buffer = bytearray()
        head = b""
        for _ in range(500):  # warm-up
            sock.sendall(payload)
            head = read_response(sock, buffer)
        times = []
        for _ in range(count):
            started = time.perf_counter()
            sock.sendall(payload)
            head = read_response(sock, buffer)
            times.append((time.perf_counter() - started) * 1000.0)
    return times, head


def wrk_client(port: int, seconds: int) -> str:
    import subprocess
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "post.lua"
        script.write_text(
            'wrk.method = "POST"\n'
            f"wrk.body = {json.dumps(BODY.decode())}\n"
            'wrk.headers["Content-Type"] = "application/json"\n'
        )
        url = f"http://127.0.0.1:{port}/v1/chat/completions"
        args = ["wrk", "-t1", "-c1", f"-d{seconds}s", "--latency", "-s", str(script), url]
        return subprocess.run(args, check=True, capture_output=True, text=True).stdout


async def in_process(count: int) -> list[float]:
    """The same hit with the ASGI app called directly: the gateway's own time."""
    os.environ.update(ENV)
    from orchestra.api.app import create_app
    from orchestra.compose import build_services
    from orchestra.config import Settings

    app = create_app(build_services(Settings(), {}))
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/v1/chat/completions",
        "raw_path": b"/v1/chat/completions",
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"gateway"),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(BODY)).encode()),
        ],
        "client": ("127.0.0.1", 5000),
        "server": ("127.0.0.1", 8080),
    }
    message = {"type": "http.request", "body": BODY, "more_body": False}
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return message

    async def send(event: dict[str, Any]) -> None:
        sent.append(event)

    for _ in range(500):  # the miss, then warm hits
        await app(dict(scope), receive, send)
    times = []
    for _ in range(count):
        sent.clear()
        started = time.perf_counter()
        await app(dict(scope), receive, send)
        times.append((time.perf_counter() - started) * 1000.0)
    headers = dict(sent[0]["headers"])
    assert headers.get(b"x-orchestra-cache") == b"hit", headers
    return times


def line(label: str, times: list[float]) -> str:
    p50, p90, p99 = (percentile(times, p) for p in (50, 90, 99))
    return f"{label:44s} p50 {p50:6.3f}  p90 {p90:6.3f}  p99 {p99:6.3f} ms  (n={len(times)})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--seconds", type=int, default=5, help="wrk's run, when wrk is there")
    args = parser.parse_args()
    port = free_port()
    server = spawn(["-m", "orchestra.cli", "serve", "--port", str(port)], env=ENV)
    try:
        wait_for(f"http://127.0.0.1:{port}/health")
        times, head = socket_client(port, args.requests)
        assert b"x-orchestra-cache: hit" in head, head
        print("L1 cache hit, POST /v1/chat/completions, one keep-alive connection")
        print(line("orchestra serve, raw-socket client", times))
        health = f"GET /health HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode()
        floor, _ = socket_client(port, args.requests, health)
        print(line("the floor: GET /health, same server and client", floor))
        if shutil.which("wrk"):
            print(wrk_client(port, args.seconds))
        else:
            print("(wrk is not on PATH: the raw-socket client above is the measure)")
    finally:
        server.terminate()
        server.wait(5)
    print(line("in-process (ASGI app called directly)", asyncio.run(in_process(args.requests))))
    print("target (issue 19): p50 under 0.3 ms end to end")


if __name__ == "__main__":
    main()
