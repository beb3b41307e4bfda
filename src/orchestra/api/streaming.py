"""Server-sent events out: keep-alive comments, and a response that always closes its source.

Starlette's ``StreamingResponse`` stops iterating when the client goes away but never closes
the body iterator, so the generator behind it (and the upstream call behind that) would stay
open until garbage collection. :class:`SSEResponse` closes it as soon as the response ends,
however it ends: that is what cancels the upstream call when a client disconnects, locally
under uvicorn and deployed under the streaming Lambda runtime alike.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterable, Mapping
from typing import Any, Protocol, TypeVar

from starlette.responses import StreamingResponse
from starlette.types import Send

from orchestra.errors import OrchestraError
from orchestra.schemas.chat import ChatChunk

#: an SSE comment: every client ignores it, every proxy sees traffic
KEEPALIVE = b": keep-alive\n\n"
DONE = b"data: [DONE]\n\n"


T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)


class StreamRenderer(Protocol[T_co]):
    """An inbound format's stream writer: what each chunk becomes, and what ends it."""

    def feed(self, chunk: ChatChunk) -> Iterable[T_co]: ...

    def finish(self) -> Iterable[T_co]: ...


async def rendered(
    chunks: AsyncIterator[ChatChunk],
    renderer: StreamRenderer[T],
    on_error: Callable[[OrchestraError], T],
) -> AsyncGenerator[T]:
    """``chunks`` in a format's shape; a failure after the start ends with ``on_error``'s
    event (the stream is never cut without saying so)."""
    try:
        async for chunk in chunks:
            for piece in renderer.feed(chunk):
                yield piece
    except OrchestraError as exc:
        yield on_error(exc)
        return
    for piece in renderer.finish():
        yield piece


def error_event(exc: OrchestraError, scrub: Callable[[str], str]) -> bytes:
    """The SSE event that ends a failed stream: the error in OpenAI's shape, keys scrubbed."""
    body = exc.to_body()
    body["error"]["message"] = scrub(body["error"]["message"])
    return b"data: " + json.dumps(body).encode() + b"\n\n"


def comment(text: str) -> bytes:
    """An SSE comment line (progress a person can read with curl; clients ignore it)."""
    return b": " + text.replace("\n", " ").encode() + b"\n\n"


async def with_keepalive(
    chunks: AsyncIterator[bytes], every_s: float, beat: bytes = KEEPALIVE
) -> AsyncGenerator[bytes]:
    """``chunks`` as they come, plus ``beat`` after each ``every_s`` of silence;
    closing this closes ``chunks``."""
    pending: asyncio.Future[bytes] | None = None
    try:
        while True:
            if every_s <= 0:
                try:
                    chunk = await anext(chunks)
                except StopAsyncIteration:
                    return
                yield chunk
                continue
            if pending is None:
                pending = asyncio.ensure_future(anext(chunks))
            done, _ = await asyncio.wait({pending}, timeout=every_s)
            if not done:
                yield beat
                continue
            finished, pending = pending, None
            try:
                chunk = finished.result()
            except StopAsyncIteration:
                return
            yield chunk
    finally:  # however this ends (the client left, the consumer stopped): stop the source
        if pending is not None:
            pending.cancel()
            with contextlib.suppress(BaseException):
                await pending
        closer = getattr(chunks, "aclose", None)
        if closer is not None:
            await closer()


class SSEResponse(StreamingResponse):
    """``text/event-stream`` with keep-alives; the body iterator is closed on every exit.

    ``keepalive`` is an SSE comment unless the format has its own (Anthropic's ``ping``
    event); another streamed ``media_type`` (Gemini's JSON array) takes one its clients
    ignore (whitespace between JSON values)."""

    def __init__(
        self,
        content: AsyncIterator[bytes],
        *,
        keepalive_s: float = 0.0,
        headers: Mapping[str, str] | None = None,
        media_type: str = "text/event-stream",
        keepalive: bytes = KEEPALIVE,
    ) -> None:
        headers = {**(headers or {}), "cache-control": "no-cache", "x-accel-buffering": "no"}
        super().__init__(content, media_type=media_type, headers=headers)
        self._source = content
        self.keepalive_s = keepalive_s
        self.keepalive = keepalive

    async def stream_response(self, send: Send) -> None:
        start: dict[str, Any] = {
            "type": "http.response.start",
            "status": self.status_code,
            "headers": self.raw_headers,
        }
        await send(start)
        body = with_keepalive(self._source, self.keepalive_s, self.keepalive)
        async with contextlib.aclosing(body):
            async for chunk in body:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})
