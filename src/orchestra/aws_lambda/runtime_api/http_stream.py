"""One API Gateway proxy event through an ASGI app, written as a streamed proxy response.

Mangum translates the event into an ASGI scope (REST v1 and HTTP API v2 alike, through
:func:`orchestra.aws_lambda.events.scope_and_body`, which refuses any other event); the app's
``send`` messages become the ``http-integration-response`` format: the status and headers as
a JSON head, eight NUL bytes, then each body chunk the moment the app sends it. The head
goes out with the first body chunk, so a stream's first byte leaves when its first token is
ready, and an error decided before that keeps its own status code.

When the reader goes away (a write raises :class:`ClientGone`), the app sees
``http.disconnect`` and its response stops: the SSE responses close their body iterator,
which closes the upstream call (no tokens paid for nobody).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from orchestra.aws_lambda.events import scope_and_body
from orchestra.aws_lambda.runtime_api.client import DELIMITER, ClientGone

log = logging.getLogger("orchestra.runtime")
Write = Callable[[bytes], None]
ASGIApp = Callable[..., Any]


@dataclass
class Served:
    status: int = 500
    headers: dict[str, str] = field(default_factory=dict)
    body_bytes: int = 0
    client_gone: bool = False
    #: monotonic time the head (and first body bytes) were written
    first_byte_at: float | None = None
    #: the app failed after its head was written (the body ends where it broke)
    broken: bool = False


def head(status: int, headers: dict[str, str], multi: dict[str, list[str]]) -> bytes:
    """The JSON head and the delimiter (API Gateway reads the head from the first 16 KB)."""
    document: dict[str, Any] = {"statusCode": status, "headers": headers}
    if multi:
        document["multiValueHeaders"] = multi
    cookies = multi.pop("set-cookie", None) or (
        [headers.pop("set-cookie")] if "set-cookie" in headers else None
    )
    if cookies:
        document["cookies"] = cookies
    return json.dumps(document, separators=(",", ":")).encode() + DELIMITER


def split_headers(raw: list[tuple[bytes, bytes]]) -> tuple[dict[str, str], dict[str, list[str]]]:
    """ASGI header pairs -> single-valued headers, and the repeated ones apart."""
    single: dict[str, str] = {}
    multi: dict[str, list[str]] = {}
    for key, value in raw:
        name, text = key.decode("latin-1").lower(), value.decode("latin-1")
        if name in multi:
            multi[name].append(text)
        elif name in single:
            multi[name] = [single.pop(name), text]
        else:
            single[name] = text
    return single, multi


async def serve(app: ASGIApp, event: dict[str, Any], context: Any, write: Write) -> Served:
    """Run ``app`` for ``event``, writing its response as it is produced."""
    scope, body = scope_and_body(event, context)
    served = Served()
    disconnected = asyncio.Event()
    request_sent = False
    pending_head: bytes | None = None

    async def receive() -> dict[str, Any]:
        nonlocal request_sent
        if not request_sent:
            request_sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await disconnected.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        nonlocal pending_head
        if served.client_gone:
            raise ClientGone
        if message["type"] == "http.response.start":
            served.status = int(message["status"])
            single, multi = split_headers(message.get("headers") or [])
            served.headers = dict(single)
            pending_head = head(served.status, single, multi)
            return
        if message["type"] != "http.response.body":
            return
        data = bytes(message.get("body") or b"")
        if pending_head is not None:
            data, pending_head = pending_head + data, None
            served.first_byte_at = asyncio.get_running_loop().time()
        try:
            write(data)
        except ClientGone:
            served.client_gone = True
            disconnected.set()
            raise
        served.body_bytes += len(data)

    try:
        await app(scope, receive, send)
    except ClientGone:
        served.client_gone = True
    except Exception:
        if served.first_byte_at is None:
            raise  # nothing written: the caller answers a whole error
        log.exception("the response broke after its first byte")
        served.broken = True
    if pending_head is not None and not served.client_gone:  # a start with no body
        write(pending_head)
    return served
