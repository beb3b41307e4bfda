"""How long one attempt may wait for its first token, and when a hedge starts.

Each deployment's budget is learnt from what this instance has seen of it
(:class:`~orchestra.resilience.deployment_stats.DeploymentStats`): a hung connection then
costs a few times that deployment's usual time to first token, not a share of the
request's deadline. For a streamed call the series is the time to the first chunk; for a
buffered call, the time to the whole answer (there is no first token to see before it).

    first_token = clamp(multiplier * quantile(series), floor, ceiling)
                  + prompt_tokens / PREFILL_TOKENS_PER_S            (every call)
                  + expected_output / (tokens_per_s / 2)            (buffered calls)

Cold (fewer samples than the series trusts), the quantile is replaced by the deployment's
configured ``first_token_s`` or else the catalog's ``latency_ms``. The allowances come on
top of the clamp: a 100k-token prompt or a 4,000-token buffered answer legitimately takes
longer than any budget learnt from short calls, and must never be killed by one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from orchestra.catalog.models import ModelInfo
from orchestra.config import Settings
from orchestra.resilience.deployment_stats import DeploymentStats, Series

#: prompt tokens an upstream reads per second before its first token, counted slow (large
#: models read 5-20k tokens/s; a budget must hold for the slow end)
PREFILL_TOKENS_PER_S = 2_000.0
#: output expected from a buffered call whose request sets no limit
DEFAULT_EXPECTED_OUTPUT = 1024
#: a buffered answer is assumed to come at this share of the catalog's generation speed
SLOW_GENERATION_SHARE = 0.5

ColdSeconds = Callable[[str], float | None]


@dataclass(frozen=True, slots=True)
class BudgetKnobs:
    """The settings that shape budgets and hedge delays (see :class:`~orchestra.config.Settings`)."""

    multiplier: float = 3.0
    quantile: float = 0.95
    floor_s: float = 1.0
    ceiling_s: float = 30.0
    hedge_quantile: float = 0.9
    hedge_min_delay_s: float = 0.25

    @classmethod
    def of(cls, settings: Settings) -> BudgetKnobs:
        return cls(
            multiplier=settings.first_token_multiplier,
            quantile=settings.first_token_quantile,
            floor_s=settings.first_token_floor_s,
            ceiling_s=settings.first_token_ceiling_s,
            hedge_quantile=settings.hedge_quantile,
            hedge_min_delay_s=settings.hedge_min_delay_s,
        )


class AttemptBudgets:
    """First-token budgets and hedge delays per deployment, read from ``stats`` (no I/O).

    ``cold_s(model_id)``: a deployment's configured cold default (the deployment table's
    ``first_token_s``), or None to use the catalog's ``latency_ms``.
    """

    def __init__(
        self,
        knobs: BudgetKnobs,
        stats: DeploymentStats,
        *,
        cold_s: ColdSeconds | None = None,
    ) -> None:
        self.knobs = knobs
        self.stats = stats
        self.cold_s = cold_s

    def first_token(
        self, model: ModelInfo, *, streamed: bool, prompt_tokens: int, output_tokens: int
    ) -> float:
        """Seconds the attempt may take to its first chunk (streamed) or whole answer.

        ``output_tokens``: the request's output limit, or 0 when it sets none.
        """
        knobs = self.knobs
        observed = self._series(model, streamed).quantile(knobs.quantile)
        base = self._cold(model) if observed is None else observed
        budget = min(max(knobs.multiplier * base, knobs.floor_s), knobs.ceiling_s)
        budget += prompt_tokens / PREFILL_TOKENS_PER_S
        if not streamed:
            budget += expected_output(model, output_tokens) / slow_rate(model)
        return budget

    def hedge_delay(self, model: ModelInfo, *, streamed: bool) -> float:
        """Seconds after which a second candidate starts beside this one.

        Never below ``hedge_min_delay_s``: against fast upstreams (5 ms to the first token)
        the ``hedge_quantile`` alone would be a few milliseconds and hedge one call in ten
        (p90 is, by definition, exceeded by 10% of calls), doubling cost for nothing a
        client could notice. Cold: twice the deployment's expected time to first token.
        """
        knobs = self.knobs
        observed = self._series(model, streamed).quantile(knobs.hedge_quantile)
        base = 2.0 * self._cold(model) if observed is None else observed
        return max(base, knobs.hedge_min_delay_s)

    def _series(self, model: ModelInfo, streamed: bool) -> Series:
        state = self.stats.state(model.id)
        return state.ttft_s if streamed else state.total_s

    def _cold(self, model: ModelInfo) -> float:
        configured = self.cold_s(model.id) if self.cold_s is not None else None
        return configured if configured is not None else model.latency_ms / 1000.0


def expected_output(model: ModelInfo, output_tokens: int) -> int:
    """The output a call may produce: the request's limit, else a typical long answer."""
    if output_tokens > 0:
        return output_tokens
    return min(DEFAULT_EXPECTED_OUTPUT, model.max_output_tokens)


def slow_rate(model: ModelInfo) -> float:
    """Tokens per second a slow (but healthy) answer from ``model`` comes at."""
    return model.tokens_per_s * SLOW_GENERATION_SHARE
