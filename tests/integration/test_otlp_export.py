"""Spans exported by OTLP/HTTP (protobuf) to a collector on 127.0.0.1, as ``orchestra serve``
does when ``otel_endpoint`` or ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from orchestra.config import Settings

from support.served import served_client


class Collector(ThreadingHTTPServer):
    """A minimal OTLP/HTTP receiver: keeps each POST's path, content type and body."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.received: list[tuple[str, str, bytes]] = []

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    server: Collector

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        self.server.received.append((self.path, self.headers.get("content-type", ""), body))
        reply = ExportTraceServiceResponse().SerializeToString()
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.send_header("content-length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, *args: Any) -> None:  # quiet
        pass


@pytest.fixture
def collector() -> Iterator[Collector]:
    server = Collector()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def _span_names(body: bytes) -> list[tuple[str, str]]:
    request = ExportTraceServiceRequest.FromString(body)
    found = []
    for resource in request.resource_spans:
        service = {a.key: a.value.string_value for a in resource.resource.attributes}
        for scope in resource.scope_spans:
            found += [(service["service.name"], span.name) for span in scope.spans]
    return found


@pytest.mark.parametrize("configured", ["setting", "environment"])
async def test_spans_reach_an_otlp_http_collector(collector, configured, monkeypatch):
    # Given the served app with its OTLP endpoint set, as a setting or the standard variable
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", raising=False)
    options: dict[str, Any] = {"simulator_latency_scale": 0.0, "prometheus": False}
    environ = {}
    if configured == "setting":
        options["otel_endpoint"] = collector.base_url
    else:
        environ["OTEL_EXPORTER_OTLP_ENDPOINT"] = collector.base_url
    chat = {"model": "auto", "messages": [{"role": "user", "content": "hi"}]}
    # When one request is answered and the gateway shuts down (the batch is flushed)
    async with served_client(Settings(**options), environ) as client:
        response = await client.post("/v1/chat/completions", json=chat)
    assert response.status_code == 200
    # Then the collector received one protobuf POST on /v1/traces with both spans
    assert collector.received, "nothing was exported"
    path, content_type, _ = collector.received[0]
    assert path == "/v1/traces"
    assert content_type == "application/x-protobuf"
    names = sorted(name for received in collector.received for name in _span_names(received[2]))
    model = response.headers["x-orchestra-model"]
    assert names == sorted([("orchestra", "chat auto"), ("orchestra", f"chat {model}")])
