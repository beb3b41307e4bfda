"""CPU per request of the telemetry: the Prometheus observer, span creation, and the whole
served request with and without them.

1. Hooks alone (one request's worth: request started, one attempt, the answer, request
   finished, as the middleware and the use case call them), on this thread:
   Prometheus; OpenTelemetry with the batch processor (what the event loop pays; the
   export thread serialises and sends later) and with the simple processor (the whole
   cost, export included, to a no-op exporter).
2. A chat completion served in-process (ASGI, the simulator with no latency) by the app
   ``orchestra serve`` builds, without telemetry, with Prometheus, with Prometheus + spans:
   the difference is what a request pays, middleware included.

Usage: ``python bench/telemetry.py [--repeat 20000] [--requests 1500] [--rounds 5]``;
figures in µs, median of the rounds (each round's mean per request, thread CPU time).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from orchestra.config import Settings
from orchestra.schemas.chat import Usage
from orchestra.telemetry.otel import OtelObserver
from orchestra.telemetry.prometheus import PrometheusObserver
from orchestra.telemetry.record import RequestRecord, current_request
from orchestra.telemetry.setup import tracer_provider

CHAT = {"model": "auto", "max_tokens": 16, "messages": [{"role": "user", "content": "hi"}]}
BODY = bytearray(b'{"model":"auto","max_tokens":16,"messages":[{"role":"user","content":"hi"}]}')


class NoExport(SpanExporter):
    def export(self, spans: Sequence[Any]) -> SpanExportResult:
        return SpanExportResult.SUCCESS


def one_request(observer: Any) -> None:
    record = RequestRecord("POST", "/v1/chat/completions", body=BODY)
    observer.request_started(record)
    token = current_request.set(record)
    observer.attempt("openai/gpt-4o-mini", None, 120.0)
    observer.completed(
        "openai/gpt-4o-mini", usage=Usage.of(9, 3), cost_usd=1e-5, latency_ms=120, fallbacks=0
    )
    current_request.reset(token)
    record.status, record.route, record.duration_ms = 200, "/v1/chat/completions", 121.0
    record.model, record.provider, record.finish_reasons = "openai/gpt-4o-mini", "openai", ["stop"]
    observer.request_finished(record)


def per_call_us(work: Callable[[], None], repeat: int, rounds: int) -> float:
    means = []
    for _ in range(rounds):
        started = time.thread_time()
        for _ in range(repeat):
            work()
        means.append((time.thread_time() - started) / repeat * 1e6)
    return statistics.median(means)


def hooks(repeat: int, rounds: int) -> None:
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    prometheus = PrometheusObserver()
    prometheus.watch(None, lambda _m: "openai")
    batched_provider = tracer_provider(None, NoExport())
    batched_provider._active_span_processor._span_processors = ()  # type: ignore[attr-defined]
    batched_provider.add_span_processor(BatchSpanProcessor(NoExport(), max_queue_size=1 << 20))
    batched = OtelObserver(batched_provider)
    simple = OtelObserver(tracer_provider(None, NoExport()))
    print(f"hooks of one request, µs of this thread's CPU ({repeat} requests x {rounds}):")
    for name, observer in [
        ("prometheus", prometheus),
        ("spans (batch processor: on the loop)", batched),
        ("spans (simple processor: export included)", simple),
    ]:
        print(f"  {name:44s} {per_call_us(lambda o=observer: one_request(o), repeat, rounds):7.1f}")
    batched_provider.shutdown()


async def served(requests: int, rounds: int) -> None:
    import httpx

    from orchestra.cli import serve_app

    variants = {
        "no telemetry": ({"prometheus": False}, None),
        "prometheus": ({}, None),
        "prometheus + spans": ({}, NoExport()),
    }
    clients = {}
    for name, (options, exporter) in variants.items():
        settings = Settings(simulator_latency_scale=0.0, **options)
        built = serve_app(settings, {}, span_exporter=exporter)
        assert built is not None
        transport = httpx.ASGITransport(app=built[1])
        clients[name] = httpx.AsyncClient(transport=transport, base_url="http://gw")
    results: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(rounds):  # interleaved: the machine's noise falls on every variant
        for name, client in clients.items():
            for _ in range(50):  # warm
                await client.post("/v1/chat/completions", json=CHAT)
            started = time.thread_time()
            for _ in range(requests):
                await client.post("/v1/chat/completions", json=CHAT)
            results[name].append((time.thread_time() - started) / requests * 1e6)
    print(f"a served chat completion (ASGI, simulator), µs CPU ({requests} x {rounds}):")
    base = statistics.median(results["no telemetry"])
    for name, means in results.items():
        median = statistics.median(means)
        print(f"  {name:44s} {median:7.1f}  (+{median - base:.1f})")
    for client in clients.values():
        await client.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=20000)
    parser.add_argument("--requests", type=int, default=1500)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    hooks(args.repeat, args.rounds)
    asyncio.run(served(args.requests, args.rounds))


if __name__ == "__main__":
    main()
