"""Scores: each model's quality, speed, cost and room, on fixed 0..1 scales.

Fixed (not min-max) scales keep a model's score stable when the catalog grows, and let the
router re-score a short list with observed latency on the same scale as the priors.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from orchestra.catalog.models import ModelInfo
from orchestra.routing.profiles import Profile

#: output length assumed when ranking statically (a typical chat answer)
TYPICAL_OUTPUT_TOKENS = 300


def _clip(value: float) -> float:
    return 0.0 if value < 0.0 else 1.0 if value > 1.0 else value


def _log_scale(value: float, low: float, high: float) -> float:
    """0 at ``low``, 1 at ``high``, logarithmic in between."""
    value = max(value, low)
    return _clip((math.log10(value) - math.log10(low)) / (math.log10(high) - math.log10(low)))


def speed_score(latency_ms: float) -> float:
    """1.0 at 50 ms or less, 0.0 at 20 s or more."""
    return 1.0 - _log_scale(latency_ms, 50.0, 20_000.0)


def cost_score(price_per_token: float) -> float:
    """1.0 for free, 0.0 at 100 USD per million tokens."""
    if price_per_token <= 0:
        return 1.0
    return 1.0 - _log_scale(price_per_token, 1e-8, 1e-4)


def context_score(window: int) -> float:
    return _log_scale(float(window), 4_096.0, 2_000_000.0)


def expected_latency_ms(model: ModelInfo, output_tokens: int = TYPICAL_OUTPUT_TOKENS) -> float:
    return model.latency_ms + output_tokens / model.tokens_per_s * 1000.0


def comparable_latency_ms(model: ModelInfo, observed_ms: float, completion_tokens: int) -> float:
    """An observed call's latency projected to a typical answer length.

    Priors rank models by the time of a ``TYPICAL_OUTPUT_TOKENS`` answer; a 6-token reply
    measured at 200 ms must not look 20 times faster than that. The call's generation time
    (at the model's nominal throughput) is swapped for a typical answer's.
    """
    per_token_ms = 1000.0 / model.tokens_per_s
    first_token = max(observed_ms - completion_tokens * per_token_ms, observed_ms * 0.1)
    return first_token + TYPICAL_OUTPUT_TOKENS * per_token_ms


@dataclass(frozen=True)
class Features:
    """A model's normalised features; quality is scaled over the catalog it came from."""

    quality: float
    speed: float
    cost: float
    context: float

    def score(self, p: Profile) -> float:
        return (
            p.quality * self.quality
            + p.speed * self.speed
            + p.cost * self.cost
            + p.context * self.context
        )

    def with_speed(self, speed: float) -> Features:
        return Features(self.quality, speed, self.cost, self.context)

    def breakdown(self, p: Profile) -> dict[str, float]:
        return {
            "score": round(self.score(p), 4),
            "quality": round(self.quality, 3),
            "speed": round(self.speed, 3),
            "cost": round(self.cost, 3),
            "context": round(self.context, 3),
        }


def quality_range(models: list[ModelInfo]) -> tuple[float, float]:
    if not models:
        return 0.0, 1.0
    low = min(m.quality for m in models)
    high = max(m.quality for m in models)
    return (low, high) if high > low else (low - 1.0, high)


def features_of(model: ModelInfo, q_low: float, q_high: float) -> Features:
    return Features(
        quality=_clip((model.quality - q_low) / (q_high - q_low)),
        speed=speed_score(expected_latency_ms(model)),
        cost=cost_score(model.blended_price()),
        context=context_score(model.context_window),
    )
