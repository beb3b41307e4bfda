"""What ``orchestra serve`` builds for telemetry, and what it leaves unimported."""

from __future__ import annotations

import subprocess
import sys

from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from orchestra.config import Settings
from orchestra.observability import LogObserver
from orchestra.telemetry.setup import build, otlp_endpoint


def test_the_endpoint_comes_from_the_setting_then_the_standard_variables():
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318/"}
    assert otlp_endpoint(Settings(), {}) is None
    assert otlp_endpoint(Settings(), env) == "http://collector:4318/v1/traces"
    mine = Settings(otel_endpoint="http://127.0.0.1:4318/v1/traces")
    assert otlp_endpoint(mine, env) == "http://127.0.0.1:4318/v1/traces"
    traces = {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://x:4318/custom"}
    assert otlp_endpoint(Settings(), traces) == "http://x:4318/custom"


def test_nothing_configured_builds_nothing():
    telemetry = build(Settings(prometheus=False), {})
    base = LogObserver()
    app = object()
    assert telemetry.sinks == [] and telemetry.registry is None
    assert telemetry.observer(base) is base
    assert telemetry.wrap(app) is app  # type: ignore[arg-type]


def test_prometheus_alone_exports_no_spans():
    telemetry = build(Settings(), {})
    assert telemetry.registry is not None and telemetry.tracer_provider is None


def test_an_exporter_turns_spans_on():
    telemetry = build(Settings(prometheus=False), {}, span_exporter=InMemorySpanExporter())
    assert telemetry.tracer_provider is not None and len(telemetry.sinks) == 1


def test_importing_the_core_and_setup_loads_neither_library():
    # Given a fresh interpreter that imports the observers and the setup module
    code = (
        "import sys, orchestra.observability, orchestra.telemetry.setup, orchestra.api.app\n"
        "heavy = ('opentelemetry.sdk', 'opentelemetry.exporter', 'prometheus_client')\n"
        "print([m for m in sys.modules if m.startswith(heavy)])"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    # Then neither the OpenTelemetry SDK nor prometheus_client was imported (no cold-start
    # cost; the OpenTelemetry API is FastAPI's own import)
    assert done.stdout.strip() == "[]"
