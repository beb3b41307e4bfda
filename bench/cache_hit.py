"""An answer served from the in-process cache (L1), end to end over ``orchestra serve``.

Starts ``orchestra serve`` (uvicorn, as ``make serve`` runs it) on the labelled simulator
with the cache on (``ORCHESTRA_CACHE_TTL_S``), asks one question once (the miss that stores
it), then asks it again and again over one keep-alive HTTP/1.1 connection: every answer a
hit. Two kinds of hit are measured:

- the repeat hit: the same bytes as an earlier hit, served by the fast path in front of the
  router (``api/fast_hits.py``): what a client asking the same question again gets;
- the normal-path hit: the same request with one ``x-orchestra-bench`` header, which the
  fast path leaves to the normal path (routing, the body parsed, the cache looked up, the
  answer serialised) and the normal path ignores: what a first hit costs.

Reports the client-side p50/p90/p99 (wrk when on PATH, and a tight raw-socket client: no
HTTP library in the loop), and the gateway's own time for the same hits with the ASGI app
called directly in-process (no socket, no uvicorn), so the client's and the server's
shares are visible. Target (issue 19): p50 under 0.3 ms end to end.

Usage: ``python bench/cache_hit.py [--requests 20000] [--seconds 5]``
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


#: a header the fast path leaves to the normal path, and the normal path ignores
NORMAL = ("x-orchestra-bench", "normal-path")


def request_bytes(port: int, normal: bool = False) -> bytes:
    extra = f"{NORMAL[0]}: {NORMAL[1]}\r\n" if normal else ""
    head = (
        f"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{extra}"
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


def wrk_client(port: int, seconds: int, normal: bool = False) -> dict[int, float]:
    """wrk's latency distribution, one connection: {percentile: ms}."""
    import re
    import subprocess
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "post.lua"
        extra = f'wrk.headers["{NORMAL[0]}"] = "{NORMAL[1]}"\n' if normal else ""
        script.write_text(
            'wrk.method = "POST"\n'
            f"wrk.body = {json.dumps(BODY.decode())}\n"
            'wrk.headers["Content-Type"] = "application/json"\n' + extra
        )
        url = f"http://127.0.0.1:{port}/v1/chat/completions"
        args = ["wrk", "-t1", "-c1", f"-d{seconds}s", "--latency", "-s", str(script), url]
        out = subprocess.run(args, check=True, capture_output=True, text=True).stdout
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}
    found = re.findall(r"^\s+(50|75|90|99)%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
    return {int(p): float(value) * scale[unit] for p, value, unit in found}


async def in_process(count: int, normal: bool = False) -> list[float]:
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
            *([(NORMAL[0].encode(), NORMAL[1].encode())] if normal else []),
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


def wrk_line(label: str, found: dict[int, float]) -> str:
    p50, p90, p99 = (found.get(p, float("nan")) for p in (50, 90, 99))
    return f"{label:44s} p50 {p50:6.3f}  p90 {p90:6.3f}  p99 {p99:6.3f} ms  (wrk)"


def over_http(port: int, args: argparse.Namespace) -> None:
    """The hits and the floor over the wire, raw-socket client then wrk."""
    times, head = socket_client(port, args.requests)
    assert b"x-orchestra-cache: hit" in head, head
    normal, head = socket_client(port, args.requests, request_bytes(port, normal=True))
    assert b"x-orchestra-cache: hit" in head, head
    health = f"GET /health HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode()
    floor, _ = socket_client(port, args.requests, health)
    print("L1 cache hit, POST /v1/chat/completions, one keep-alive connection")
    print(line("repeat hit (fast path), raw-socket client", times))
    print(line("first hit (normal path), raw-socket client", normal))
    print(line("GET /health (the router's floor), raw socket", floor))
    if not shutil.which("wrk"):
        print("(wrk is not on PATH: the raw-socket client above is the measure)")
        return
    print(wrk_line("repeat hit (fast path)", wrk_client(port, args.seconds)))
    print(wrk_line("first hit (normal path)", wrk_client(port, args.seconds, normal=True)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--seconds", type=int, default=5, help="wrk's run, when wrk is there")
    args = parser.parse_args()
    port = free_port()
    server = spawn(["-m", "orchestra.cli", "serve", "--port", str(port)], env=ENV)
    try:
        wait_for(f"http://127.0.0.1:{port}/health")
        over_http(port, args)
    finally:
        server.terminate()
        server.wait(5)
    fast = asyncio.run(in_process(args.requests))
    normal = asyncio.run(in_process(args.requests, normal=True))
    print(line("in-process repeat hit (ASGI app called)", fast))
    print(line("in-process first hit (ASGI app called)", normal))
    print("target (issue 19): p50 under 0.3 ms end to end")


if __name__ == "__main__":
    main()
