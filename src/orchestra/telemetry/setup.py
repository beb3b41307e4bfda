"""Build the telemetry ``orchestra serve`` asked for: which observers, which sinks, the
``/metrics`` registry, the span exporter. Each library is imported only when it is used.

``build(settings, environ)`` returns a :class:`Telemetry`; the caller hands
:meth:`Telemetry.observer` to the composition root, calls :meth:`Telemetry.watch` once the
services exist (breakers, catalog) and serves :meth:`Telemetry.wrap` of the app.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from orchestra.errors import OrchestraError
from orchestra.observability import Observer, Observers

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter
    from prometheus_client import CollectorRegistry
    from starlette.types import ASGIApp

    from orchestra.catalog.source import CatalogSource
    from orchestra.config import Settings
    from orchestra.resilience.breaker import CircuitBreaker
    from orchestra.telemetry.record import RequestRecord

#: the OTLP/HTTP traces path under a base endpoint (as ``OTEL_EXPORTER_OTLP_ENDPOINT``)
TRACES_PATH = "/v1/traces"


class Sink(Protocol):
    """A telemetry observer: told of requests (the middleware) and of what the use cases
    report (``Observer`` hooks), wired to the services once they exist (``watch``)."""

    wants_body: bool

    def request_started(self, record: RequestRecord) -> None: ...

    def request_finished(self, record: RequestRecord) -> None: ...

    def watch(
        self, breaker: CircuitBreaker | None, provider_of: Callable[[str], str] | None
    ) -> None: ...


@dataclass
class Telemetry:
    """The observers and request sinks built, the registry ``/metrics`` renders."""

    sinks: list[Sink] = field(default_factory=list)
    registry: CollectorRegistry | None = None
    tracer_provider: TracerProvider | None = None

    def observer(self, base: Observer) -> Observer:
        """``base`` (the log or EMF observer) and every telemetry observer, as one."""
        return Observers(base, *self.sinks) if self.sinks else base

    def watch(self, breaker: CircuitBreaker | None, catalog: CatalogSource | None) -> None:
        provider_of = _provider_lookup(catalog) if catalog is not None else None
        for sink in self.sinks:
            sink.watch(breaker, provider_of)

    def wrap(self, app: ASGIApp) -> ASGIApp:
        if not self.sinks:
            return app
        from orchestra.telemetry.middleware import TelemetryMiddleware

        return TelemetryMiddleware(app, self.sinks)

    def shutdown(self) -> None:
        """Flush the spans still batched (serve's exit; the SDK also does it at exit)."""
        if self.tracer_provider is not None:
            self.tracer_provider.shutdown()


def otlp_endpoint(settings: Settings, environ: Mapping[str, str]) -> str | None:
    """Where spans go: ``otel_endpoint``, else the standard ``OTEL_EXPORTER_OTLP_ENDPOINT``
    (also honoured: ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``, a full traces URL)."""
    endpoint = settings.otel_endpoint or environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    if endpoint:
        endpoint = endpoint.rstrip("/")
        return endpoint if endpoint.endswith(TRACES_PATH) else endpoint + TRACES_PATH
    return environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or None


def build(
    settings: Settings,
    environ: Mapping[str, str],
    *,
    span_exporter: SpanExporter | None = None,
) -> Telemetry:
    """Prometheus when ``settings.prometheus``; spans when an OTLP endpoint is configured
    or ``span_exporter`` is given (tests: the SDK's ``InMemorySpanExporter``)."""
    telemetry = Telemetry()
    if settings.prometheus:
        from orchestra.telemetry.prometheus import PrometheusObserver

        prometheus = PrometheusObserver()
        telemetry.registry = prometheus.registry
        telemetry.sinks.append(prometheus)
    endpoint = otlp_endpoint(settings, environ)
    if endpoint is not None or span_exporter is not None:
        from orchestra.telemetry.otel import OtelObserver

        telemetry.tracer_provider = tracer_provider(endpoint, span_exporter)
        telemetry.sinks.append(OtelObserver(telemetry.tracer_provider))
    return telemetry


def tracer_provider(endpoint: str | None, exporter: SpanExporter | None = None) -> TracerProvider:
    """An SDK provider of its own (the global one is left to the host): ``exporter``
    synchronously (tests see each span when it ends), else OTLP/HTTP protobuf to
    ``endpoint`` in batches off the event loop (the SDK's export thread)."""
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

    provider = TracerProvider(resource=Resource.create({"service.name": "orchestra"}))
    if exporter is not None:
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
    return provider


def _provider_lookup(catalog: CatalogSource) -> Callable[[str], str]:
    """A model id's provider, from the catalog as last loaded (no I/O)."""

    def provider_of(model_id: str) -> str:
        try:
            return catalog.cached.get(model_id).provider
        except OrchestraError:  # a model the catalog no longer lists
            return "-"

    return provider_of
