"""When to try the same model again: attempts, Retry-After and the deadline, exactly."""

from __future__ import annotations

import random

import pytest

from orchestra.errors import ProviderBadRequest, RateLimited, ServerError
from orchestra.resilience.retry import Deadline, RetryPolicy

P = {"provider": "p", "model": "p/m"}


def _deadline(seconds: float) -> Deadline:
    return Deadline(seconds, clock=lambda: 100.0)  # a frozen clock


def test_attempts_per_model_bounds_the_retries() -> None:
    error = ServerError("boom", **P)
    two = RetryPolicy(attempts_per_model=2, rng=random.Random(1))
    assert two.delay_before_retry(error, 0, _deadline(60)) is not None
    assert two.delay_before_retry(error, 1, _deadline(60)) is None
    three = RetryPolicy(attempts_per_model=3, rng=random.Random(1))
    assert three.delay_before_retry(error, 1, _deadline(60)) is not None
    assert three.delay_before_retry(error, 2, _deadline(60)) is None


def test_errors_that_are_not_retryable_move_on() -> None:
    policy = RetryPolicy(attempts_per_model=5)
    assert policy.delay_before_retry(ProviderBadRequest("no", **P), 0, _deadline(60)) is None


def test_retry_after_is_the_wait_when_it_fits() -> None:
    policy = RetryPolicy(max_retry_after_s=10.0, min_call_budget_s=1.0)
    asked = RateLimited("slow down", retry_after=2.5, **P)
    assert policy.delay_before_retry(asked, 0, _deadline(60)) == 2.5
    # the wait plus the time kept for the call exactly fills the budget: still fits
    assert policy.delay_before_retry(asked, 0, _deadline(3.5)) == 2.5
    assert policy.delay_before_retry(asked, 0, _deadline(3.49)) is None
    too_long = RateLimited("slow down", retry_after=10.5, **P)
    assert policy.delay_before_retry(too_long, 0, _deadline(60)) is None


def test_backoff_is_full_jitter_under_a_doubling_cap() -> None:
    policy = RetryPolicy(base_delay_s=0.25, max_delay_s=1.0, rng=random.Random(7))
    for index, cap in ((0, 0.25), (1, 0.5), (2, 1.0), (5, 1.0)):
        draws = [policy.backoff(index) for _ in range(200)]
        assert min(draws) >= 0.0 and max(draws) <= cap and max(draws) > cap * 0.8


def test_a_deadline_counts_down_and_never_below_zero() -> None:
    now = [0.0]
    deadline = Deadline(2.0, clock=lambda: now[0])
    assert deadline.remaining() == 2.0 and not deadline.expired()
    now[0] = 2.0
    assert deadline.expired()
    now[0] = 5.0
    assert deadline.remaining() == pytest.approx(0.0)
