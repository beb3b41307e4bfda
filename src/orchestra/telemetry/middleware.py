"""``TelemetryMiddleware``: one :class:`RequestRecord` per HTTP request, told to the sinks.

A pure ASGI wrapper (as ``AccessLog``): it sees streamed bodies to their last byte and
client disconnects. What it reads is already on the wire: the route FastAPI matched, the
status, the ``x-orchestra-model`` and ``x-orchestra-provider`` headers and, for an event
stream, when the first body bytes left (time to first token as the client sees it: the
route opens the upstream stream and waits for its first chunk before it starts the
response). Nothing is parsed unless a sink asks for the body (OpenTelemetry's request
attributes): then the request body is kept and each response body chunk is searched for
finish reasons.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from orchestra.telemetry.record import RequestRecord, RequestSink, current_request

#: a finish reason in any inbound format's JSON or SSE data (chat, Anthropic, Gemini); a
#: quote inside a JSON string is escaped, so message text cannot forge the key
_FINISH = re.compile(rb'"(?:finish_reason|stop_reason|finishReason)"\s*:\s*"([A-Za-z_]{1,40})"')


class TelemetryMiddleware:
    def __init__(self, app: ASGIApp, sinks: Sequence[RequestSink]) -> None:
        self.app = app
        self.sinks = tuple(sinks)
        self.wants_body = any(sink.wants_body for sink in self.sinks)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        record = RequestRecord(scope.get("method", "-"), scope.get("path", ""))
        for sink in self.sinks:
            sink.request_started(record)
        token = current_request.set(record)
        try:
            await self.app(scope, self._receive(record, receive), self._send(scope, record, send))
        finally:
            current_request.reset(token)
            record.duration_ms = (time.perf_counter() - record.started) * 1000.0
            for sink in self.sinks:
                sink.request_finished(record)

    def _receive(self, record: RequestRecord, receive: Receive) -> Receive:
        if not self.wants_body or record.method != "POST":
            return receive
        record.body = bytearray()

        async def keep(  # the body, as the route reads it (its size cap still applies)
        ) -> Message:
            message = await receive()
            if message["type"] == "http.request" and record.body is not None:
                record.body += message.get("body", b"")
            return message

        return keep

    def _send(self, scope: Scope, record: RequestRecord, send: Send) -> Send:
        scan = self.wants_body

        async def watch(message: Message) -> None:
            kind = message["type"]
            if kind == "http.response.start":
                _started(scope, record, message)
            elif kind == "http.response.body":
                body = message.get("body", b"")
                if body and record.streamed and record.ttft_ms is None:
                    record.ttft_ms = (time.perf_counter() - record.started) * 1000.0
                if scan and body:
                    record.finish_reasons += [m.decode() for m in _FINISH.findall(body)]
            await send(message)

        return watch


def _started(scope: Scope, record: RequestRecord, message: Message) -> None:
    """The status, the matched route and the headers that name the answering model."""
    record.status = message["status"]
    route = getattr(scope.get("route"), "path", None)
    if route is not None:
        record.route = route
    for name, value in message.get("headers", ()):
        if name == b"x-orchestra-model":
            record.model = value.decode("latin-1")
        elif name == b"x-orchestra-provider":
            record.provider = value.decode("latin-1")
        elif name == b"content-type":
            record.streamed = value.startswith(b"text/event-stream")
