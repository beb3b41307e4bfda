"""``PrometheusObserver``: the gateway's metrics in its own ``CollectorRegistry``.

It is an :class:`~orchestra.observability.Observer` (attempts, answers, hedges, breakers,
fusion, guardrail actions, policy refusals, the answer cache's outcomes, called by the
use cases) and a
:class:`~orchestra.telemetry.record.RequestSink` (one count and duration per HTTP request,
from :class:`~orchestra.telemetry.middleware.TelemetryMiddleware`). ``GET /metrics`` renders
:attr:`PrometheusObserver.registry` in Prometheus' text format.

Label values are bounded: routes are FastAPI's templates, models and providers come from
the catalog, outcomes and codes from the error hierarchy. Each label set's child is cached
here (``labels()`` takes a lock and builds a key on every call).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from orchestra.telemetry.record import RequestRecord

if TYPE_CHECKING:
    from orchestra.errors import ProviderError
    from orchestra.observability import Fused
    from orchestra.resilience.breaker import CircuitBreaker
    from orchestra.schemas.chat import Usage

#: whole requests, streams to their last byte: an LLM answer takes from 100 ms to minutes
LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0, 60.0, 120.0)
#: first bytes of a stream: what a chat user waits for
TTFT_BUCKETS = (0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 30.0)
#: ``orchestra_breaker_state``: the value of each state
BREAKER_STATES = {"closed": 0.0, "half_open": 1.0, "open": 2.0}


class _Family:
    """A labelled metric and its children by label values (one dict lookup per use)."""

    __slots__ = ("children", "metric")

    def __init__(self, metric: Any) -> None:
        self.metric = metric
        self.children: dict[tuple[str, ...], Any] = {}

    def of(self, *values: str) -> Any:
        child = self.children.get(values)
        if child is None:
            child = self.children[values] = self.metric.labels(*values)
        return child


class PrometheusObserver:
    """The gateway's Prometheus metrics (names in ``docs/governance.md``)."""

    wants_body = False

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self._provider_of: Callable[[str], str] = lambda _model: "-"
        self._providers: dict[str, str] = {}
        reg = self.registry
        request = ["route", "model", "provider"]
        self.requests = _Family(
            Counter(
                "orchestra_requests", "HTTP requests served", [*request, "status"], registry=reg
            )
        )
        self.latency = _Family(
            Histogram(
                "orchestra_request_duration_seconds",
                "Time from a request's arrival to its last byte (streams included)",
                request,
                buckets=LATENCY_BUCKETS,
                registry=reg,
            )
        )
        self.ttft = _Family(
            Histogram(
                "orchestra_time_to_first_token_seconds",
                "Streams: time from the request's arrival to its first body bytes",
                request,
                buckets=TTFT_BUCKETS,
                registry=reg,
            )
        )
        self._answer_metrics(reg)
        self._policy_metrics(reg)
        self._cache_metrics(reg)
        self.breakers = BreakerStates()
        reg.register(self.breakers)

    def _answer_metrics(self, reg: CollectorRegistry) -> None:
        def counter(name: str, doc: str, labels: list[str]) -> _Family:
            return _Family(Counter(name, doc, labels, registry=reg))

        self.attempts = counter(
            "orchestra_upstream_attempts",
            "Upstream calls by outcome (ok, or the error's code)",
            ["model", "provider", "outcome"],
        )
        self.tokens = counter(
            "orchestra_tokens",
            "Tokens of answered calls (kind: prompt, completion, cached)",
            ["model", "kind"],
        )
        self.cost = counter("orchestra_cost_usd", "Cost of answered calls in USD", ["model"])
        self.fallbacks = counter(
            "orchestra_fallbacks",
            "Failed attempts before an answer, by answering model",
            ["model"],
        )
        self.hedges = counter(
            "orchestra_hedges",
            "Hedges started beside a slow attempt (won: the hedge answered)",
            ["model", "won"],
        )
        self.hedge_cost = counter(
            "orchestra_hedge_cost_usd", "Estimated cost of hedges' losing attempts", ["model"]
        )
        self.breaker_opened_total = counter(
            "orchestra_breaker_opened", "Breakers this instance opened", ["model"]
        )
        self.fusions = counter(
            "orchestra_fusions", "Multi-generate requests by strategy", ["strategy"]
        )

    def _policy_metrics(self, reg: CollectorRegistry) -> None:
        self.guardrails = _Family(
            Counter(
                "orchestra_guardrail_actions",
                "Guardrail findings acted on (action: block, flag, redact)",
                ["check", "action"],
                registry=reg,
            )
        )
        self.refusals = _Family(
            Counter(
                "orchestra_policy_refusals",
                "Requests refused by a policy (budget_exceeded, rate_limit_exceeded, ...)",
                ["code"],
                registry=reg,
            )
        )

    def _cache_metrics(self, reg: CollectorRegistry) -> None:
        self.cache_requests = _Family(
            Counter(
                "orchestra_cache_requests",
                "Requests the answer cache saw, by outcome (hit, miss, stale, bypass) and "
                "match (exact, semantic; none when nothing was served from it)",
                ["outcome", "match"],
                registry=reg,
            )
        )
        self.cache_saved = Counter(
            "orchestra_cache_saved_usd",
            "What answers served from cache would have cost upstream, in USD",
            registry=reg,
        )

    def watch(
        self, breaker: CircuitBreaker | None, provider_of: Callable[[str], str] | None
    ) -> None:
        """Late wiring (the observer exists before the services it observes): the breakers
        whose state is scraped, and how a model id names its provider."""
        self.breakers.breaker = breaker
        if provider_of is not None:
            self._provider_of = provider_of
            self._providers.clear()

    def provider(self, model_id: str) -> str:
        found = self._providers.get(model_id)
        if found is None:
            found = self._providers[model_id] = self._provider_of(model_id)
        return found

    # --- RequestSink ------------------------------------------------------------------------
    def request_started(self, record: RequestRecord) -> None:
        """Nothing: a request is counted once it has ended."""

    def request_finished(self, record: RequestRecord) -> None:
        labels = (record.route, record.model, record.provider)
        self.requests.of(*labels, str(record.status)).inc()
        self.latency.of(*labels).observe(record.duration_ms / 1000.0)
        if record.ttft_ms is not None:
            self.ttft.of(*labels).observe(record.ttft_ms / 1000.0)

    # --- Observer ---------------------------------------------------------------------------
    def attempt(self, model_id: str, error: ProviderError | None, latency_ms: float) -> None:
        provider = error.provider if error is not None else self.provider(model_id)
        outcome = "ok" if error is None else error.code
        self.attempts.of(model_id, provider, outcome).inc()
        self.breakers.seen.add(model_id)

    def completed(
        self,
        model_id: str,
        *,
        usage: Usage | None,
        cost_usd: float,
        latency_ms: float,
        fallbacks: int,
    ) -> None:
        if usage is not None:
            self.tokens.of(model_id, "prompt").inc(usage.prompt_tokens)
            self.tokens.of(model_id, "completion").inc(usage.completion_tokens)
            details = usage.prompt_tokens_details
            if details is not None and details.cached_tokens:
                self.tokens.of(model_id, "cached").inc(details.cached_tokens)
        self.cost.of(model_id).inc(cost_usd)
        if fallbacks:
            self.fallbacks.of(model_id).inc(fallbacks)

    def breaker_opened(self, model_id: str) -> None:
        self.breaker_opened_total.of(model_id).inc()
        self.breakers.seen.add(model_id)

    def hedged(self, model_id: str, *, won: bool, cost_usd: float) -> None:
        self.hedges.of(model_id, "true" if won else "false").inc()
        self.hedge_cost.of(model_id).inc(cost_usd)

    def fused(self, summary: Fused) -> None:
        self.fusions.of(summary.strategy).inc()

    def guardrail(self, check: str, rule: str, action: str) -> None:
        """Counted by check and action; the rule stays in the audit log (one series per
        rule would multiply the series for little)."""
        self.guardrails.of(check, action).inc()

    def refused(self, code: str) -> None:
        self.refusals.of(code).inc()

    def cache(self, outcome: str, match: str | None, saved_usd: float) -> None:
        self.cache_requests.of(outcome, match or "none").inc()
        if saved_usd > 0:
            self.cache_saved.inc(saved_usd)


class BreakerStates(Collector):
    """``orchestra_breaker_state{model}``: 0 closed, 1 half-open, 2 open, read from the
    breaker's in-process view when scraped (no I/O), for every model attempted so far."""

    def __init__(self) -> None:
        self.breaker: CircuitBreaker | None = None
        self.seen: set[str] = set()

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "orchestra_breaker_state",
            "Circuit breaker state by model (0 closed, 1 half-open, 2 open)",
            labels=["model"],
        )
        if self.breaker is not None:
            for model_id in sorted(self.seen):
                state = self.breaker.view(model_id).state
                family.add_metric([model_id], BREAKER_STATES[state])
        yield family
