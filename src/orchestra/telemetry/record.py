"""One HTTP request as the telemetry sees it, shared by the middleware and the observers.

The middleware (:mod:`orchestra.telemetry.middleware`) makes a :class:`RequestRecord` when a
request arrives and puts it in :data:`current_request`; the observers' hooks, called deep in
the use cases (attempts, the answer's usage), add to it; the sinks read it once the last
byte has gone. The record is mutated, never replaced: a streamed body runs in a task with a
copy of the context, and a copy still points at the same record.
"""

from __future__ import annotations

import time
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(slots=True)
class RequestRecord:
    """What one request did: its route and status, the model that answered, its tokens."""

    method: str
    path: str
    #: ``time.perf_counter()`` when it arrived (durations) and ``time.time_ns()`` (spans)
    started: float = field(default_factory=time.perf_counter)
    started_ns: int = field(default_factory=time.time_ns)
    #: the route's template (``/v1/chat/completions``), known once routing has matched
    route: str = "unmatched"
    status: int = 500
    #: from ``x-orchestra-model`` / ``x-orchestra-provider``: what the client was told
    model: str = "-"
    provider: str = "-"
    streamed: bool = False
    ttft_ms: float | None = None
    duration_ms: float = 0.0
    #: summed over every answer the request produced (a multi-generate has several)
    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0
    cost_usd: float = 0.0
    answers: int = 0
    finish_reasons: list[str] = field(default_factory=list)
    #: the request body, kept only when a sink asked for it (:attr:`RequestSink.wants_body`)
    body: bytearray | None = None
    #: a sink's own state for this request (the OpenTelemetry span)
    span: Any = None


#: the request being served; None outside one (the CLI, a debate step, a unit test)
current_request: ContextVar[RequestRecord | None] = ContextVar("current_request", default=None)


class RequestSink(Protocol):
    """Told when a request starts and when its last byte has gone."""

    #: whether the middleware should keep the request body on the record (span attributes)
    wants_body: bool

    def request_started(self, record: RequestRecord) -> None: ...

    def request_finished(self, record: RequestRecord) -> None: ...
