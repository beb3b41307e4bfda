"""Telemetry hooks the core calls; the Lambda handler plugs in Powertools EMF metrics.

The core never imports Powertools Metrics itself: it reports through :class:`Observer`, so
local serve and tests pay nothing, and Lambda gets per-model EMF metrics (latency, tokens,
cost, fallbacks) from :class:`EmfObserver`.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Protocol

from orchestra.errors import ProviderError

if TYPE_CHECKING:
    from orchestra.schemas.chat import Usage

log = logging.getLogger("orchestra")


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

    def fused(
        self,
        strategy: str,
        *,
        models: int,
        answered: int,
        agreement: float,
        confidence: float,
        cost_usd: float,
        latency_ms: float,
    ) -> None: ...


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

    def fused(
        self,
        strategy: str,
        *,
        models: int,
        answered: int,
        agreement: float,
        confidence: float,
        cost_usd: float,
        latency_ms: float,
    ) -> None:
        log.debug(
            "fused",
            extra={"strategy": strategy, "answered": f"{answered}/{models}", "ms": latency_ms},
        )


class EmfObserver:
    """Per-model CloudWatch metrics through a Powertools ``Metrics`` instance."""

    def __init__(self, metrics: Any) -> None:
        self.metrics = metrics

    def _emit(self, model_id: str, values: dict[str, tuple[float, str]]) -> None:
        """One EMF blob per model, with a ``Model`` dimension the totals do not carry."""
        from aws_lambda_powertools.metrics import MetricUnit, single_metric

        (name, (value, unit)), *rest = values.items()
        with single_metric(
            name=name,
            unit=MetricUnit[unit],
            value=value,
            namespace=self.metrics.namespace,
            default_dimensions=self.metrics.default_dimensions,
        ) as metric:
            metric.add_dimension(name="Model", value=model_id)
            for other, (amount, other_unit) in rest:
                metric.add_metric(name=other, unit=MetricUnit[other_unit], value=amount)

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

    def fused(
        self,
        strategy: str,
        *,
        models: int,
        answered: int,
        agreement: float,
        confidence: float,
        cost_usd: float,
        latency_ms: float,
    ) -> None:
        """One EMF blob per multi-generate, by ``Strategy``: what fusion costs and finds."""
        from aws_lambda_powertools.metrics import MetricUnit, single_metric

        with single_metric(
            name="FusionRequests",
            unit=MetricUnit.Count,
            value=1,
            namespace=self.metrics.namespace,
            default_dimensions=self.metrics.default_dimensions,
        ) as metric:
            metric.add_dimension(name="Strategy", value=strategy)
            metric.add_metric(
                name="FusionModelsFailed", unit=MetricUnit.Count, value=models - answered
            )
            metric.add_metric(name="FusionAgreement", unit=MetricUnit.NoUnit, value=agreement)
            metric.add_metric(name="FusionConfidence", unit=MetricUnit.NoUnit, value=confidence)
            metric.add_metric(name="FusionCostUSD", unit=MetricUnit.NoUnit, value=cost_usd)
            metric.add_metric(name="FusionLatency", unit=MetricUnit.Milliseconds, value=latency_ms)

    def _total(self, name: str, value: float) -> None:
        from aws_lambda_powertools.metrics import MetricUnit

        self.metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
