"""``OtelObserver``: OpenTelemetry spans after the GenAI semantic conventions.

One span per request: kind SERVER (the gateway serves the client's model call), named
``{gen_ai.operation.name} {gen_ai.request.model}`` (``chat gpt-4o``, ``chat auto``), started
when the request arrives and ended with its last byte (a stream's too). One child span per
upstream attempt: kind CLIENT (a call to a remote model), named ``chat <model id>``. The
use cases report an attempt once its outcome is known (``Observer.attempt`` gets its
latency, after the fact), so its span is made then with the start time it had: now minus
that latency. A streamed attempt's outcome is known at its first chunk: its span ends there.

Request attributes (``gen_ai.request.max_tokens``, ``temperature``, the requested model) are
read from the body the middleware kept, by the same keys every inbound format uses; the
finish reasons from the response bytes (``RequestRecord.finish_reasons``). The SDK is
imported with this module, never by the core: only :func:`orchestra.telemetry.setup.build`
imports it, when an endpoint or an exporter is given.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from orchestra.telemetry.record import RequestRecord, current_request

if TYPE_CHECKING:
    from collections.abc import Callable

    from opentelemetry.sdk.trace import TracerProvider

    from orchestra.errors import ProviderError
    from orchestra.observability import Fused
    from orchestra.resilience.breaker import CircuitBreaker
    from orchestra.schemas.chat import Usage

#: the routes whose requests are model calls (anything else gets no span)
_OPERATIONS = {"/v1/embeddings": "embeddings"}


class OtelObserver:
    """Spans for requests (a :class:`RequestSink`) and attempts (an ``Observer``)."""

    wants_body = True

    def __init__(self, tracer_provider: TracerProvider) -> None:
        self.tracer = tracer_provider.get_tracer("orchestra")
        self._provider_of: Callable[[str], str] = lambda _model: "-"
        self._providers: dict[str, str] = {}  # a model's provider does not change

    def watch(
        self, breaker: CircuitBreaker | None, provider_of: Callable[[str], str] | None
    ) -> None:
        """How a model id names its provider (the catalog), wired once services exist."""
        if provider_of is not None:
            self._provider_of = provider_of
            self._providers.clear()

    # --- RequestSink ------------------------------------------------------------------------
    def request_started(self, record: RequestRecord) -> None:
        if record.method != "POST":  # health checks, the catalog, /metrics: no model call
            return
        record.span = self.tracer.start_span(
            "chat", kind=SpanKind.SERVER, start_time=record.started_ns
        )

    def request_finished(self, record: RequestRecord) -> None:
        span = record.span
        if span is None:
            return
        operation = _OPERATIONS.get(record.route, "chat")
        asked = requested(record)
        model = asked.pop("gen_ai.request.model", None) or record.model
        span.update_name(f"{operation} {model}")
        span.set_attributes(
            {
                "gen_ai.operation.name": operation,
                "gen_ai.request.model": model,
                "http.request.method": record.method,
                "http.route": record.route,
                "http.response.status_code": record.status,
                **asked,
                **_answered(record),
            }
        )
        if record.status >= 400:
            span.set_attribute("error.type", str(record.status))
            span.set_status(Status(StatusCode.ERROR))
        span.end(end_time=record.started_ns + int(record.duration_ms * 1e6))

    # --- Observer ---------------------------------------------------------------------------
    def attempt(self, model_id: str, error: ProviderError | None, latency_ms: float) -> None:
        record = current_request.get()
        parent = record.span if record is not None else None
        context = trace.set_span_in_context(parent) if parent is not None else None
        ended = time.time_ns()
        provider = error.provider if error is not None else self._providers.get(model_id)
        if provider is None:
            provider = self._providers[model_id] = self._provider_of(model_id)
        span = self.tracer.start_span(
            f"chat {model_id}",
            context=context,
            kind=SpanKind.CLIENT,
            start_time=ended - int(latency_ms * 1e6),
            attributes={
                "gen_ai.operation.name": "chat",
                "gen_ai.request.model": model_id,
                "gen_ai.provider.name": provider,
                "gen_ai.system": provider,
                "orchestra.attempt.outcome": "ok" if error is None else error.code,
                "orchestra.attempt.latency_ms": latency_ms,
            },
        )
        if error is not None:
            span.set_attribute("error.type", error.code)
            span.set_status(Status(StatusCode.ERROR, error.summary()))
        span.end(end_time=ended)

    def completed(
        self,
        model_id: str,
        *,
        usage: Usage | None,
        cost_usd: float,
        latency_ms: float,
        fallbacks: int,
    ) -> None:
        """The answer's tokens and cost, added to its request's span attributes."""
        record = current_request.get()
        if record is None:
            return
        record.answers += 1
        record.cost_usd += cost_usd
        if usage is not None:
            record.input_tokens += usage.prompt_tokens
            record.output_tokens += usage.completion_tokens
            details = usage.prompt_tokens_details
            if details is not None:
                record.cached_tokens += details.cached_tokens or 0

    def breaker_opened(self, model_id: str) -> None:
        """Nothing: the attempt spans carry the failures; the metrics count breakers."""

    def hedged(self, model_id: str, *, won: bool, cost_usd: float) -> None:
        record = current_request.get()
        if record is not None and record.span is not None:
            record.span.set_attribute("orchestra.hedge.won", won)

    def fused(self, summary: Fused) -> None:
        record = current_request.get()
        if record is not None and record.span is not None:
            record.span.set_attribute("orchestra.fusion.strategy", summary.strategy)

    def guardrail(self, check: str, rule: str, action: str) -> None:
        """An event on the request's span: which check and rule, never the text."""
        record = current_request.get()
        if record is not None and record.span is not None:
            attributes = {"check": check, "rule": rule, "action": action}
            record.span.add_event("orchestra.guardrail", attributes)

    def refused(self, code: str) -> None:
        record = current_request.get()
        if record is not None and record.span is not None:
            record.span.set_attribute("orchestra.refusal", code)

    def cache(self, outcome: str, match: str | None, saved_usd: float) -> None:
        """The answer cache's outcome on the request's span (and a hit's match, savings)."""
        record = current_request.get()
        if record is not None and record.span is not None:
            record.span.set_attribute("orchestra.cache", outcome)
            if match is not None:
                record.span.set_attribute("orchestra.cache.match", match)
            if saved_usd > 0:
                record.span.set_attribute("orchestra.cache.saved_usd", saved_usd)


def requested(record: RequestRecord) -> dict[str, Any]:
    """``gen_ai.request.*`` from the kept body, whatever its inbound format: chat
    completions and Anthropic Messages (``max_tokens``), OpenAI's newer name
    (``max_completion_tokens``), Responses (``max_output_tokens``), Gemini
    (``generationConfig``, the model in the path)."""
    body = _json(record.body)
    config = body.get("generationConfig")
    config = config if isinstance(config, dict) else {}
    found: dict[str, Any] = {}
    model = body.get("model") or _model_in_path(record.path)
    if isinstance(model, str):
        found["gen_ai.request.model"] = model
    for key in ("max_tokens", "max_completion_tokens", "max_output_tokens"):
        if isinstance(body.get(key), int):
            found["gen_ai.request.max_tokens"] = body[key]
            break
    else:
        if isinstance(config.get("maxOutputTokens"), int):
            found["gen_ai.request.max_tokens"] = config["maxOutputTokens"]
    temperature = body.get("temperature", config.get("temperature"))
    if isinstance(temperature, int | float) and not isinstance(temperature, bool):
        found["gen_ai.request.temperature"] = float(temperature)
    return found


def _answered(record: RequestRecord) -> dict[str, Any]:
    found: dict[str, Any] = {}
    if record.model != "-":
        found["gen_ai.response.model"] = record.model
    if record.provider != "-":
        found["gen_ai.provider.name"] = found["gen_ai.system"] = record.provider
    if record.answers:
        found["gen_ai.usage.input_tokens"] = record.input_tokens
        found["gen_ai.usage.output_tokens"] = record.output_tokens
        found["gen_ai.usage.cache_read.input_tokens"] = record.cached_tokens
        found["orchestra.cost_usd"] = record.cost_usd
    if record.finish_reasons:
        found["gen_ai.response.finish_reasons"] = tuple(dict.fromkeys(record.finish_reasons))
    if record.ttft_ms is not None:
        found["orchestra.time_to_first_token_ms"] = record.ttft_ms
    return found


def _json(body: bytearray | None) -> dict[str, Any]:
    if not body:
        return {}
    try:
        parsed = json.loads(body)
    except ValueError:  # the route answers the client's 400; the span just lacks fields
        return {}
    return parsed if isinstance(parsed, dict) else {}


def _model_in_path(path: str) -> str | None:
    """Gemini's ``/v1beta/models/<model>:generateContent``."""
    _, found, rest = path.partition("/models/")
    return rest.partition(":")[0] or None if found else None
