"""A local stand-in for API Gateway (REST, ``responseTransferMode: STREAM``) and the Lambda
Runtime API, driving the real streaming runtime in a subprocess.

Two servers on 127.0.0.1, one event loop in a background thread:

- the **front** takes a client's HTTP request, turns it into a REST v1 proxy event (as API
  Gateway does, with the authorizer's principal in ``requestContext``), queues it as an
  invocation, and relays the function's streamed answer: it reads the JSON head up to the
  eight NUL bytes, answers the client with that status and those headers, then forwards
  each body chunk the moment it arrives. It cuts a stream that is idle for ``idle_s``
  (API Gateway: 5 min regional) or longer than ``integration_timeout_s``; when the client
  goes away it closes the function's response connection (so the function sees it);
- the **Runtime API** serves ``invocation/next`` (long poll), streamed and buffered
  ``response``, ``error``, ``init/error`` and ``restore/next``, as Lambda's does.

Each execution environment is a subprocess started from ``functions/stream_runtime`` (the
``AWS_LAMBDA_EXEC_WRAPPER`` the bundle ships) with ``_HANDLER`` as CDK sets it.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

ROOT = Path(__file__).resolve().parents[2]
WRAPPER = ROOT / "functions" / "stream_runtime"
PREFIX = "/2018-06-01/runtime"
DELIMITER = b"\x00" * 8


@dataclass
class Invocation:
    request_id: str
    event: dict[str, Any]
    deadline_ms: int
    #: what the function answered: ("stream", status, headers) once its head is read
    head: asyncio.Future[tuple[int, dict[str, str]]]
    body: asyncio.Queue[bytes | None] = field(default_factory=asyncio.Queue)
    response_transport: Any = None
    buffered: bytes | None = None
    error: dict[str, Any] | None = None
    mode: str = ""
    #: loop time (= time.monotonic, comparable across processes) of the response's first bytes
    first_bytes_at: float | None = None
    #: loop time ``invocation/next`` handed the event to the function
    handed_at: float | None = None


@dataclass
class Record:
    """What one request looked like from both sides (for assertions)."""

    request_id: str
    mode: str
    head: dict[str, Any] | None
    error: dict[str, Any] | None


class LambdaEmulator:
    def __init__(
        self,
        *,
        function_timeout_s: float = 305.0,
        integration_timeout_s: float = 300.0,
        idle_s: float = 300.0,
        principal: str = "client-1",
    ) -> None:
        self.function_timeout_s = function_timeout_s
        self.integration_timeout_s = integration_timeout_s
        self.idle_s = idle_s
        self.principal = principal
        self.pending: asyncio.Queue[Invocation] | None = None
        self.invocations: dict[str, Invocation] = {}
        self.records: list[Record] = []
        self.init_errors: list[dict[str, Any]] = []
        self.restores = 0
        self.front_url = self.runtime_address = ""
        self._runners: list[web.AppRunner] = []
        self._processes: list[subprocess.Popen[bytes]] = []
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    # -- life cycle --------------------------------------------------------------------

    def start(self) -> LambdaEmulator:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self.loop).result(10)
        return self

    async def _start(self) -> None:
        self.pending = asyncio.Queue()
        front = web.Application(client_max_size=8 * 1024 * 1024)
        front.router.add_route("*", "/{tail:.*}", self._front)
        runtime = web.Application(client_max_size=8 * 1024 * 1024)
        runtime.router.add_get(PREFIX + "/invocation/next", self._next)
        runtime.router.add_post(PREFIX + "/invocation/{rid}/response", self._response)
        runtime.router.add_post(PREFIX + "/invocation/{rid}/error", self._error)
        runtime.router.add_post(PREFIX + "/init/error", self._init_error)
        runtime.router.add_get(PREFIX + "/restore/next", self._restore)
        self.front_url = f"http://127.0.0.1:{await self._serve(front)}"
        self.runtime_address = f"127.0.0.1:{await self._serve(runtime)}"

    async def _serve(self, app: web.Application) -> int:
        runner = web.AppRunner(app, access_log=None, handler_cancellation=True)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        self._runners.append(runner)
        return int(site._server.sockets[0].getsockname()[1])  # type: ignore[union-attr]

    def spawn(
        self, env: Mapping[str, str], handler: str, log_path: Path
    ) -> subprocess.Popen[bytes]:
        """One execution environment: the wrapper script, as Lambda would start it."""
        full = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": os.environ.get("HOME", "/tmp"),
            "AWS_LAMBDA_RUNTIME_API": self.runtime_address,
            "_HANDLER": handler,
            "LAMBDA_TASK_ROOT": str(ROOT),
            "AWS_LAMBDA_FUNCTION_NAME": "orchestra-generate",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "1024",
            "AWS_REGION": "us-east-1",
            "ORCHESTRA_RUNTIME_PYTHON": sys.executable,
            "PYTHONPATH": str(ROOT / "src"),
            **env,
        }
        log = log_path.open("ab")
        process = subprocess.Popen(
            [str(WRAPPER), "/var/lang/bin/python3", "/var/runtime/bootstrap.py"],
            env=full,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self._processes.append(process)
        return process

    def stop(self) -> None:
        for process in self._processes:
            process.terminate()
        for process in self._processes:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(5)
        asyncio.run_coroutine_threadsafe(self._stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)

    async def _stop(self) -> None:
        for runner in self._runners:
            await runner.cleanup()

    # -- the front (API Gateway) --------------------------------------------------------

    def event_for(self, request: web.Request, body: bytes) -> dict[str, Any]:
        headers = dict(request.headers)
        request_id = str(uuid.uuid4())
        query = {k: request.query.getall(k) for k in request.query}
        return {
            "resource": "/{proxy+}",
            "path": request.path,
            "httpMethod": request.method,
            "headers": headers,
            "multiValueHeaders": {k: request.headers.getall(k) for k in request.headers},
            "queryStringParameters": {k: v[-1] for k, v in query.items()} or None,
            "multiValueQueryStringParameters": query or None,
            "pathParameters": {"proxy": request.path.lstrip("/")},
            "stageVariables": None,
            "requestContext": {
                "accountId": "123456789012",
                "apiId": "local",
                "authorizer": {"principalId": self.principal},
                "httpMethod": request.method,
                "identity": {"sourceIp": request.remote or "127.0.0.1"},
                "path": "/dev" + request.path,
                "protocol": "HTTP/1.1",
                "requestId": request_id,
                "requestTimeEpoch": int(time.time() * 1000),
                "resourcePath": "/{proxy+}",
                "stage": "dev",
            },
            "body": base64.b64encode(body).decode() if body else None,
            "isBase64Encoded": bool(body),
        }

    async def _front(self, request: web.Request) -> web.StreamResponse:
        assert self.pending is not None
        event = self.event_for(request, await request.read())
        rid = str(uuid.uuid4())  # Lambda's request id; API Gateway's is in the event
        deadline = int((time.time() + self.function_timeout_s) * 1000)
        invocation = Invocation(rid, event, deadline, self.loop.create_future())
        self.invocations[rid] = invocation
        await self.pending.put(invocation)
        try:
            status, headers = await asyncio.wait_for(invocation.head, self.integration_timeout_s)
        except TimeoutError:
            return _gateway_error(504, "Endpoint request timed out")
        if invocation.mode == "error":
            return _gateway_error(502, "Internal server error")
        response = web.StreamResponse(status=status, headers=headers)
        response.headers["x-amzn-requestid"] = rid
        await response.prepare(request)
        try:
            await self._relay(invocation, response)
        except ConnectionResetError:
            self._cut(invocation)  # the client went away: Lambda's side is closed too
        except asyncio.CancelledError:
            self._cut(invocation)
            raise
        return response

    async def _relay(self, invocation: Invocation, response: web.StreamResponse) -> None:
        started = time.monotonic()
        while True:
            left = self.integration_timeout_s - (time.monotonic() - started)
            try:
                chunk = await asyncio.wait_for(invocation.body.get(), min(self.idle_s, left))
            except TimeoutError:
                self._cut(invocation)  # idle or too long: API Gateway ends the stream
                return
            if chunk is None:
                await response.write_eof()
                return
            await response.write(chunk)

    def _cut(self, invocation: Invocation) -> None:
        transport = invocation.response_transport
        if transport is not None:
            transport.close()

    # -- the Runtime API -----------------------------------------------------------------

    async def _next(self, request: web.Request) -> web.Response:
        assert self.pending is not None
        invocation = await self.pending.get()
        invocation.handed_at = asyncio.get_running_loop().time()
        return web.json_response(
            invocation.event,
            headers={
                "Lambda-Runtime-Aws-Request-Id": invocation.request_id,
                "Lambda-Runtime-Deadline-Ms": str(invocation.deadline_ms),
                "Lambda-Runtime-Invoked-Function-Arn": (
                    "arn:aws:lambda:us-east-1:123456789012:function:orchestra-generate:live"
                ),
                "Lambda-Runtime-Trace-Id": "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=0",
            },
        )

    async def _response(self, request: web.Request) -> web.Response:
        invocation = self.invocations[request.match_info["rid"]]
        streaming = request.headers.get("Lambda-Runtime-Function-Response-Mode") == "streaming"
        if not streaming:
            invocation.mode, invocation.buffered = "buffered", await request.read()
            whole = json.loads(invocation.buffered)
            invocation.head.set_result((whole["statusCode"], whole.get("headers") or {}))
            await invocation.body.put((whole.get("body") or "").encode())
            await invocation.body.put(None)
            self.records.append(Record(invocation.request_id, "buffered", whole, None))
            return web.Response(status=202)
        invocation.mode, invocation.response_transport = "stream", request.transport
        await self._read_stream(request, invocation)
        return web.Response(status=202)

    async def _read_stream(self, request: web.Request, invocation: Invocation) -> None:
        buffer, head = b"", None
        async for data in request.content.iter_any():
            if invocation.first_bytes_at is None:
                invocation.first_bytes_at = asyncio.get_running_loop().time()
            if head is not None:
                await invocation.body.put(data)
                continue
            buffer += data
            if DELIMITER in buffer:
                raw, rest = buffer.split(DELIMITER, 1)
                head = json.loads(raw)
                headers = {**(head.get("headers") or {})}
                for name, values in (head.get("multiValueHeaders") or {}).items():
                    headers[name] = ", ".join(values)
                invocation.head.set_result((int(head["statusCode"]), headers))
                if rest:
                    await invocation.body.put(rest)
        if head is None and not invocation.head.done():  # no head at all: a broken response
            invocation.mode = "error"
            invocation.head.set_result((502, {}))
        await invocation.body.put(None)
        self.records.append(Record(invocation.request_id, "stream", head, None))

    async def _error(self, request: web.Request) -> web.Response:
        invocation = self.invocations[request.match_info["rid"]]
        invocation.mode, invocation.error = "error", await request.json()
        invocation.head.set_result((502, {}))
        self.records.append(Record(invocation.request_id, "error", None, invocation.error))
        return web.Response(status=202)

    async def _init_error(self, request: web.Request) -> web.Response:
        self.init_errors.append(await request.json())
        return web.Response(status=202)

    async def _restore(self, request: web.Request) -> web.Response:
        self.restores += 1
        return web.Response(status=200)


def _gateway_error(status: int, message: str) -> web.Response:
    return web.json_response({"message": message}, status=status)


@contextlib.contextmanager
def emulated(**options: Any) -> Iterator[LambdaEmulator]:
    emulator = LambdaEmulator(**options).start()
    try:
        yield emulator
    finally:
        emulator.stop()
