"""First-token budgets and hedge delays: learnt per deployment, cold from the catalog."""

from __future__ import annotations

import pytest

from orchestra.catalog.models import ModelInfo
from orchestra.config import Settings
from orchestra.resilience.budgets import (
    DEFAULT_EXPECTED_OUTPUT,
    PREFILL_TOKENS_PER_S,
    AttemptBudgets,
    BudgetKnobs,
)
from orchestra.resilience.deployment_stats import MIN_SAMPLES, DeploymentStats


def _model(latency_ms: float = 500.0, tokens_per_s: float = 80.0, max_out: int = 4096) -> ModelInfo:
    return ModelInfo(
        id="alpha/m1",
        context_window=100_000,
        max_output_tokens=max_out,
        input_price=1e-6,
        output_price=2e-6,
        quality=1300,
        latency_ms=latency_ms,
        tokens_per_s=tokens_per_s,
    )


def _learnt(seconds: list[float], *, streamed: bool = True) -> DeploymentStats:
    stats = DeploymentStats()
    for value in seconds:
        stats.succeeded("alpha/m1", value, streamed=streamed)
    return stats


KNOBS = BudgetKnobs(multiplier=3.0, quantile=0.95, floor_s=0.1, ceiling_s=30.0)


def test_knobs_come_from_settings():
    settings = Settings(first_token_multiplier=4.0, first_token_floor_s=0.5, hedge_min_delay_s=0.1)
    knobs = BudgetKnobs.of(settings)
    assert (knobs.multiplier, knobs.floor_s, knobs.hedge_min_delay_s) == (4.0, 0.5, 0.1)


def test_learnt_budget_is_the_multiple_of_the_observed_quantile():
    # Given a deployment whose first tokens came within 0.1-0.2 s
    stats = _learnt([0.1] * 12 + [0.2] * 8)
    budgets = AttemptBudgets(KNOBS, stats)
    # When a short streamed call asks for its budget
    budget = budgets.first_token(_model(), streamed=True, prompt_tokens=0, output_tokens=0)
    # Then it is 3 x p95 (0.2 s), not the catalog's cold 0.5 s
    assert budget == pytest.approx(0.6)


def test_cold_budget_uses_the_configured_override_then_the_catalog():
    stats = _learnt([0.1] * (MIN_SAMPLES - 1))  # too few samples to trust
    catalog_only = AttemptBudgets(KNOBS, stats)
    overridden = AttemptBudgets(KNOBS, stats, cold_s=lambda m: 2.0 if m == "alpha/m1" else None)
    args = {"streamed": True, "prompt_tokens": 0, "output_tokens": 0}
    assert catalog_only.first_token(_model(latency_ms=500), **args) == pytest.approx(1.5)
    assert overridden.first_token(_model(latency_ms=500), **args) == pytest.approx(6.0)


@pytest.mark.parametrize(("latency_ms", "expected"), [(10.0, 1.0), (400.0, 1.2), (50_000.0, 5.0)])
def test_budget_is_clamped_to_floor_and_ceiling(latency_ms: float, expected: float):
    knobs = BudgetKnobs(multiplier=3.0, floor_s=1.0, ceiling_s=5.0)
    budgets = AttemptBudgets(knobs, DeploymentStats())
    model = _model(latency_ms=latency_ms)
    budget = budgets.first_token(model, streamed=True, prompt_tokens=0, output_tokens=0)
    assert budget == pytest.approx(expected)


def test_long_prompts_get_a_prefill_allowance_beyond_the_ceiling():
    knobs = BudgetKnobs(multiplier=3.0, floor_s=1.0, ceiling_s=5.0)
    budgets = AttemptBudgets(knobs, DeploymentStats())
    model = _model(latency_ms=50_000)
    budget = budgets.first_token(model, streamed=True, prompt_tokens=100_000, output_tokens=0)
    assert budget == pytest.approx(5.0 + 100_000 / PREFILL_TOKENS_PER_S)


def test_buffered_calls_get_a_generation_allowance_at_half_speed():
    # Given a deployment whose buffered answers were all short (0.2 s)
    stats = _learnt([0.2] * 20, streamed=False)
    budgets = AttemptBudgets(KNOBS, stats)
    model = _model(tokens_per_s=80.0)
    # When a buffered call may produce 800 tokens
    budget = budgets.first_token(model, streamed=False, prompt_tokens=0, output_tokens=800)
    # Then its budget holds 800 tokens at 40 tokens/s on top of the learnt 0.6 s
    assert budget == pytest.approx(0.6 + 800 / 40.0)
    # and without a limit, a typical long answer (capped by the model's own maximum)
    unlimited = budgets.first_token(model, streamed=False, prompt_tokens=0, output_tokens=0)
    assert unlimited == pytest.approx(0.6 + DEFAULT_EXPECTED_OUTPUT / 40.0)
    small = _model(max_out=256)
    capped = budgets.first_token(small, streamed=False, prompt_tokens=0, output_tokens=0)
    assert capped == pytest.approx(0.6 + 256 / 40.0)


def test_streamed_and_buffered_budgets_learn_from_their_own_series():
    stats = _learnt([0.1] * 10, streamed=True)
    budgets = AttemptBudgets(KNOBS, stats)
    # the buffered series is still cold: the catalog's 0.5 s, not the stream's 0.1 s
    buffered = budgets.first_token(_model(), streamed=False, prompt_tokens=0, output_tokens=1)
    assert buffered == pytest.approx(1.5 + 1 / 40.0)


def test_hedge_delay_is_the_quantile_with_a_floor():
    knobs = BudgetKnobs(hedge_quantile=0.9, hedge_min_delay_s=0.25)
    slow = AttemptBudgets(knobs, _learnt([0.4] * 9 + [0.8] * 11))
    fast = AttemptBudgets(knobs, _learnt([0.005] * 20))
    assert slow.hedge_delay(_model(), streamed=True) == pytest.approx(0.8)
    # 5 ms upstreams: p90 alone would hedge one call in ten; the floor holds
    assert fast.hedge_delay(_model(), streamed=True) == pytest.approx(0.25)


def test_cold_hedge_delay_is_twice_the_expected_first_token():
    knobs = BudgetKnobs(hedge_min_delay_s=0.25)
    budgets = AttemptBudgets(knobs, DeploymentStats())
    assert budgets.hedge_delay(_model(latency_ms=700), streamed=True) == pytest.approx(1.4)
    assert budgets.hedge_delay(_model(latency_ms=50), streamed=False) == pytest.approx(0.25)
