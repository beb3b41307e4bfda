"""Metrics and traces for ``orchestra serve``: Prometheus and OpenTelemetry observers.

Nothing is imported here: ``prometheus_client`` and the OpenTelemetry SDK load only when
:mod:`orchestra.telemetry.setup` is asked to build them (a Lambda function that enables
neither pays nothing at cold start).
"""
