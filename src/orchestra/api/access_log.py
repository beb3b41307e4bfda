"""``orchestra serve --access-log``: one line per request, written when the response ends.

``POST /v1/chat/completions 200 153ms model=openai/gpt-4o-mini attempts=...``: method, path
(no query string), status, latency until the last byte (streams included), the model that
answered and the attempts made (from the ``x-orchestra-*`` headers; ``-`` when there are
none). A pure ASGI wrapper: it sees streamed responses and client disconnects (499) too.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("orchestra.access")


class AccessLog:
    def __init__(self, app: ASGIApp, logger: logging.Logger = log) -> None:
        self.app = app
        self.log = logger

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        seen: dict[str, Any] = {"status": 500, "headers": {}}

        async def watch(message: Message) -> None:
            if message["type"] == "http.response.start":
                seen["status"] = message["status"]
                seen["headers"] = _orchestra_headers(message.get("headers", []))
            await send(message)

        try:
            await self.app(scope, receive, watch)
        finally:
            self.log.info(
                "%s %s %s %.0fms model=%s attempts=%s",
                scope.get("method", "-"),
                _printable(scope.get("path", "")),
                seen["status"],
                (time.perf_counter() - start) * 1000.0,
                seen["headers"].get("model") or seen["headers"].get("models") or "-",
                seen["headers"].get("attempts") or "-",
            )


def _orchestra_headers(raw: list[tuple[bytes, bytes]]) -> dict[str, str]:
    """``x-orchestra-model`` -> ``model`` and so on; the rest is not needed here."""
    found = {}
    for name, value in raw:
        key = name.decode("latin-1").lower()
        if key.startswith("x-orchestra-"):
            found[key.removeprefix("x-orchestra-")] = value.decode("latin-1")
    return found


def _printable(path: str) -> str:
    """A path cannot forge a second log line."""
    if path.isprintable():
        return path
    return "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in path)
