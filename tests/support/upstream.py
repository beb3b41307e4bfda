"""A scripted fake upstream: a real HTTP server on 127.0.0.1 replaying recorded payloads.

Each request takes the next scripted :class:`Reply` (or the default one): a status, headers
and body, optionally after a delay, optionally streamed in pieces, optionally cut off
mid-stream by dropping the connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    #: stream these pieces instead of ``body``
    chunks: list[bytes] | None = None
    chunk_delay: float = 0.0
    #: drop the connection after this many pieces (a broken stream)
    drop_after: int | None = None
    #: extra silence before piece i (a model reasoning between tokens)
    pauses: dict[int, float] = field(default_factory=dict)

    @classmethod
    def json(cls, payload: Any, status: int = 200, **kw: Any) -> Reply:
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        headers = {"content-type": "application/json", **kw.pop("headers", {})}
        return cls(status=status, body=body, headers=headers, **kw)

    @classmethod
    def sse(cls, raw: bytes, piece: int = 64, **kw: Any) -> Reply:
        chunks = [raw[i : i + piece] for i in range(0, len(raw), piece)]
        headers = {"content-type": "text/event-stream", **kw.pop("headers", {})}
        return cls(status=200, chunks=chunks, headers=headers, **kw)


class FakeUpstream:
    def __init__(
        self,
        default: Reply | None = None,
        responder: Callable[[dict[str, Any]], Reply] | None = None,
    ) -> None:
        self.script: deque[Reply] = deque()
        self.default = default
        #: builds the reply from the request (path, headers, body) when nothing is scripted
        self.responder = responder
        self.requests: list[dict[str, Any]] = []
        #: streams whose reader went away before the last piece (the gateway cancelled)
        self.abandoned = 0
        #: requests whose client closed the connection while a delay or pause ran
        self.disconnected = 0
        #: loop time of each streamed piece sent
        self.sent_at: list[float] = []
        #: loop time each request arrived
        self.received_at: list[float] = []
        self._runner: web.AppRunner | None = None
        self.base_url = ""

    def enqueue(self, *replies: Reply) -> None:
        self.script.extend(replies)

    async def start(self) -> str:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.base_url = f"http://127.0.0.1:{port}"
        return self.base_url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.received_at.append(asyncio.get_running_loop().time())
        raw = await request.read()
        seen = {
            "path": request.path,
            "headers": {k.lower(): v for k, v in request.headers.items()},
            "body": _parse(raw),
        }
        self.requests.append(seen)
        if self.script:
            reply: Reply | None = self.script.popleft()
        elif self.responder is not None:
            reply = self.responder(seen)
        else:
            reply = self.default
        if reply is None:
            return web.json_response({"error": {"message": "unscripted"}}, status=599)
        if reply.delay and not await self._idle(request, reply.delay):
            return web.Response(status=499)  # nobody is listening any more
        if reply.chunks is None:
            return web.Response(status=reply.status, body=reply.body, headers=reply.headers)
        return await self._stream(request, reply)

    async def _stream(self, request: web.Request, reply: Reply) -> web.StreamResponse:
        response = web.StreamResponse(status=reply.status, headers=reply.headers)
        await response.prepare(request)
        loop = asyncio.get_running_loop()
        try:
            for i, piece in enumerate(reply.chunks or []):
                if reply.drop_after is not None and i >= reply.drop_after:
                    assert request.transport is not None
                    request.transport.abort()
                    return response
                if i in reply.pauses and not await self._idle(request, reply.pauses[i]):
                    return response
                await response.write(piece)
                self.sent_at.append(loop.time())
                if reply.chunk_delay:
                    await asyncio.sleep(reply.chunk_delay)
        except (ConnectionResetError, asyncio.CancelledError):
            self.abandoned += 1  # the reader left before the last piece
            raise
        with contextlib.suppress(ConnectionResetError):  # it may close once it has [DONE]
            await response.write_eof()
        return response

    async def _idle(self, request: web.Request, seconds: float) -> bool:
        """Wait ``seconds``, or until the client closes the connection (False then, counted
        in :attr:`disconnected`): a hung upstream that notices its caller leave."""
        loop = asyncio.get_running_loop()
        until = loop.time() + seconds
        try:
            while (left := until - loop.time()) > 0:
                transport = request.transport
                if transport is None or transport.is_closing():
                    self.disconnected += 1
                    return False
                await asyncio.sleep(min(left, 0.01))
        except asyncio.CancelledError:  # aiohttp cancelling the handler: the client left
            self.disconnected += 1
            raise
        return True


def _parse(raw: bytes) -> Any:
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return raw.decode("utf-8", "replace")


@contextlib.contextmanager
def running_in_thread(fake: FakeUpstream) -> Iterator[FakeUpstream]:
    """Serve ``fake`` from its own loop in a thread (for synchronous callers like Lambda)."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(fake.start(), loop).result(10)
    try:
        yield fake
    finally:
        asyncio.run_coroutine_threadsafe(fake.stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()
