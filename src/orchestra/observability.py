"""Telemetry hooks the core calls; the Lambda handler plugs in Powertools EMF metrics.

The core never imports Powertools Metrics itself: it reports through :class:`Observer`, so
local serve and tests pay nothing, and Lambda gets per-model EMF metrics (latency, tokens,
cost, fallbacks) from :class:`EmfObserver`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from orchestra.errors import ProviderError

if TYPE_CHECKING:
    from orchestra.schemas.chat import Usage

log = logging.getLogger("orchestra")


@dataclass(frozen=True)
class Fused:
    """One multi-generate, as reported: its strategy, what answered, what it found and cost."""

    strategy: str
    models: int
    answered: int
    agreement: float
    confidence: float
    cost_usd: float
    latency_ms: float


class Observer(Protocol):
    def attempt(self, model_id: str, error: ProviderError | None, latency_ms: float) -> None: ...

    def completed(
        self,
        model_id: str,
        *,
        usage: Usage | None,
        cost_usd: float,
        latency_ms: float,
        fallbacks: int,
    ) -> None: ...

    def breaker_opened(self, model_id: str) -> None: ...

    def hedged(self, model_id: str, *, won: bool, cost_usd: float) -> None: ...

    def fused(self, summary: Fused) -> None: ...

    def guardrail(self, check: str, rule: str, action: str) -> None: ...

    def refused(self, code: str) -> None: ...


class LogObserver:
    """Local default: one debug line per attempt, nothing else."""

    def attempt(self, model_id: str, error: ProviderError | None, latency_ms: float) -> None:
        if error is not None:
            log.info(
                "attempt failed",
                extra={"model": model_id, "error": error.summary(), "ms": latency_ms},
            )

    def completed(
        self,
        model_id: str,
        *,
        usage: Usage | None,
        cost_usd: float,
        latency_ms: float,
        fallbacks: int,
    ) -> None:
        log.debug("completed", extra={"model": model_id, "ms": latency_ms, "fallbacks": fallbacks})

    def breaker_opened(self, model_id: str) -> None:
        log.warning("circuit breaker opened", extra={"model": model_id})

    def hedged(self, model_id: str, *, won: bool, cost_usd: float) -> None:
        log.debug("hedged", extra={"model": model_id, "won": won, "cost_usd": cost_usd})

    def fused(self, summary: Fused) -> None:
        log.debug(
            "fused",
            extra={
                "strategy": summary.strategy,
                "answered": f"{summary.answered}/{summary.models}",
                "ms": summary.latency_ms,
            },
        )

    def guardrail(self, check: str, rule: str, action: str) -> None:
        """Nothing: the security audit log already has the line (``orchestra.security``)."""

    def refused(self, code: str) -> None:
        """Nothing: the refusal is the response (429 or 400) and its access line."""

    def cache(self, outcome: str, match: str | None, saved_usd: float) -> None:
        """The answer cache's outcome (``hit``, ``miss``, ``stale``, ``bypass``)."""
        log.debug("cache", extra={"outcome": outcome, "match": match, "saved_usd": saved_usd})


class EmfObserver:
    """Per-model CloudWatch metrics through a Powertools ``Metrics`` instance."""

    def __init__(self, metrics: Any) -> None:
        self.metrics = metrics

    def _emit(self, model_id: str, values: dict[str, tuple[float, str]]) -> None:
        self._blob("Model", model_id, values)

    def _blob(self, dimension: str, value: str, values: dict[str, tuple[float, str]]) -> None:
        """One EMF blob with its own extra dimension (``Model``, ``Strategy``) and every
        metric in ``values``; the function's Metrics (the totals) do not carry it.
        (Powertools' ``single_metric`` keeps only the first metric of a blob.)"""
        from aws_lambda_powertools.metrics import MetricUnit
        from aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch import (
            AmazonCloudWatchEMFProvider,
        )

        blob = AmazonCloudWatchEMFProvider(
            namespace=self.metrics.namespace,
            service=getattr(self.metrics, "service", None),
            default_dimensions=dict(self.metrics.default_dimensions),
        )
        blob.add_dimension(name=dimension, value=value)
        for name, (amount, unit) in values.items():
            blob.add_metric(name=name, unit=MetricUnit[unit], value=amount)
        blob.flush_metrics()

    def attempt(self, model_id: str, error: ProviderError | None, latency_ms: float) -> None:
        if error is not None:
            self._emit(model_id, {"UpstreamErrors": (1, "Count")})

    def completed(
        self,
        model_id: str,
        *,
        usage: Usage | None,
        cost_usd: float,
        latency_ms: float,
        fallbacks: int,
    ) -> None:
        values: dict[str, tuple[float, str]] = {
            "Latency": (latency_ms, "Milliseconds"),
            "CostUSD": (cost_usd, "NoUnit"),
            "Fallbacks": (fallbacks, "Count"),
            "Requests": (1, "Count"),
        }
        if usage is not None:
            values["PromptTokens"] = (usage.prompt_tokens, "Count")
            values["CompletionTokens"] = (usage.completion_tokens, "Count")
        self._emit(model_id, values)
        # totals without the Model dimension: what the fallback-rate alarm divides
        self._total("Requests", 1)
        self._total("FallbackRequests", 1 if fallbacks else 0)

    def breaker_opened(self, model_id: str) -> None:
        log.warning("circuit breaker opened", extra={"model": model_id})
        self._emit(model_id, {"BreakerOpened": (1, "Count")})
        self._total("BreakerOpened", 1)

    def hedged(self, model_id: str, *, won: bool, cost_usd: float) -> None:
        """A hedge started beside a slow call to ``model_id``; ``won``: the hedge answered
        first; ``cost_usd``: what the losing attempt's prompt is estimated to have cost."""
        self._emit(
            model_id,
            {
                "Hedges": (1, "Count"),
                "HedgesWon": (1 if won else 0, "Count"),
                "HedgeCostUSD": (cost_usd, "NoUnit"),
            },
        )
        self._total("Hedges", 1)

    def fused(self, summary: Fused) -> None:
        """One EMF blob per multi-generate, by ``Strategy``: what fusion costs and finds."""
        self._blob(
            "Strategy",
            summary.strategy,
            {
                "FusionRequests": (1, "Count"),
                "FusionModelsFailed": (summary.models - summary.answered, "Count"),
                "FusionAgreement": (summary.agreement, "NoUnit"),
                "FusionConfidence": (summary.confidence, "NoUnit"),
                "FusionCostUSD": (summary.cost_usd, "NoUnit"),
                "FusionLatency": (summary.latency_ms, "Milliseconds"),
            },
        )

    def guardrail(self, check: str, rule: str, action: str) -> None:
        """One ``GuardrailActions`` count by ``Guardrail`` (``<check>:<action>``; the rule
        stays in the audit log: one dimension value per rule would multiply the series)."""
        self._blob("Guardrail", f"{check}:{action}", {"GuardrailActions": (1, "Count")})

    def refused(self, code: str) -> None:
        """One ``PolicyRefusals`` count by ``Refusal`` (``budget_exceeded``,
        ``rate_limit_exceeded``, ``guardrail_blocked``)."""
        self._blob("Refusal", code, {"PolicyRefusals": (1, "Count")})
        self._total("PolicyRefusals", 1)

    def cache(self, outcome: str, match: str | None, saved_usd: float) -> None:
        """Function-wide totals (no dimension: four outcomes, one series each):
        ``CacheHits`` (``CacheSemanticHits`` of them), ``CacheStaleHits``, ``CacheMisses``,
        ``CacheBypasses`` and ``CacheSavedUSD``, what served answers would have cost."""
        name = _CACHE_COUNTS.get(outcome)
        if name is not None:
            self._total(name, 1)
        if match == "semantic":
            self._total("CacheSemanticHits", 1)
        if saved_usd > 0:
            self._total("CacheSavedUSD", saved_usd, "NoUnit")

    def _total(self, name: str, value: float, unit: str = "Count") -> None:
        from aws_lambda_powertools.metrics import MetricUnit

        self.metrics.add_metric(name=name, unit=MetricUnit[unit], value=value)


#: ``EmfObserver.cache``: the metric counting each outcome
_CACHE_COUNTS = {
    "hit": "CacheHits",
    "stale": "CacheStaleHits",
    "miss": "CacheMisses",
    "bypass": "CacheBypasses",
}


class Observers:
    """Several observers heard as one (logs, Prometheus, spans), in the order given.

    Each hook is forwarded to every member that has it: an observer written before a hook
    existed (a test fake, an older one) is skipped for that hook rather than broken. The
    members' bound methods are looked up once, here, not on every call."""

    def __init__(self, *members: object) -> None:
        self.members = members

        def bound(hook: str) -> tuple[Any, ...]:
            return tuple(m for o in members if (m := getattr(o, hook, None)) is not None)

        self._attempt = bound("attempt")
        self._completed = bound("completed")
        self._breaker_opened = bound("breaker_opened")
        self._hedged = bound("hedged")
        self._fused = bound("fused")
        self._guardrail = bound("guardrail")
        self._refused = bound("refused")
        self._cache = bound("cache")

    def attempt(self, model_id: str, error: ProviderError | None, latency_ms: float) -> None:
        for hook in self._attempt:
            hook(model_id, error, latency_ms)

    def completed(
        self,
        model_id: str,
        *,
        usage: Usage | None,
        cost_usd: float,
        latency_ms: float,
        fallbacks: int,
    ) -> None:
        for hook in self._completed:
            hook(
                model_id, usage=usage, cost_usd=cost_usd, latency_ms=latency_ms, fallbacks=fallbacks
            )

    def breaker_opened(self, model_id: str) -> None:
        for hook in self._breaker_opened:
            hook(model_id)

    def hedged(self, model_id: str, *, won: bool, cost_usd: float) -> None:
        for hook in self._hedged:
            hook(model_id, won=won, cost_usd=cost_usd)

    def fused(self, summary: Fused) -> None:
        for hook in self._fused:
            hook(summary)

    def guardrail(self, check: str, rule: str, action: str) -> None:
        for hook in self._guardrail:
            hook(check, rule, action)

    def refused(self, code: str) -> None:
        for hook in self._refused:
            hook(code)

    def cache(self, outcome: str, match: str | None, saved_usd: float) -> None:
        for hook in self._cache:
            hook(outcome, match, saved_usd)
