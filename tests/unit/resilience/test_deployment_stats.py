"""DeploymentStats: what the upstreams' headers say, series quantiles, decayed error rates."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from orchestra.resilience.deployment_stats import MIN_SAMPLES, DeploymentStats, Series


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def stats(clock: Clock) -> DeploymentStats:
    return DeploymentStats(clock=clock, low_water=0.02, error_half_life_s=30.0)


@pytest.mark.parametrize(
    ("reset", "seconds"),
    [("1s", 1.0), ("6m0s", 360.0), ("20ms", 0.02), ("2m59.56s", 179.56), ("1h", 3600.0)],
)
def test_openai_reset_durations_set_the_cooling_time(stats, clock, reset, seconds):
    # Given an OpenAI answer saying no request is left until the reset
    headers = {
        "x-ratelimit-limit-requests": "500",
        "x-ratelimit-remaining-requests": "0",
        "x-ratelimit-reset-requests": reset,
    }
    # When it is observed
    stats.observe_headers("openai/gpt-4o", 200, headers)
    state = stats.state("openai/gpt-4o")
    # Then the deployment cools exactly until the reset
    assert state.remaining_requests == 0.0
    assert state.cooling_until == pytest.approx(clock.now + seconds)
    assert state.cooling(clock.now + seconds - 0.001)
    assert not state.cooling(clock.now + seconds + 0.001)


def test_a_quota_above_low_water_does_not_cool(stats, clock):
    headers = {
        "x-ratelimit-limit-tokens": "10000",
        "x-ratelimit-remaining-tokens": "300",  # 3% left, low water is 2%
        "x-ratelimit-reset-tokens": "6m0s",
    }
    stats.observe_headers("openai/gpt-4o", 200, headers)
    state = stats.state("openai/gpt-4o")
    assert state.remaining_tokens == pytest.approx(0.03)
    assert not state.cooling(clock.now)
    # ... and at or below it does
    stats.observe_headers("openai/gpt-4o", 200, {**headers, "x-ratelimit-remaining-tokens": "200"})
    assert state.cooling_until == pytest.approx(clock.now + 360.0)


def test_remaining_zero_without_a_limit_still_cools(stats, clock):
    headers = {"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "1s"}
    stats.observe_headers("a/m", 200, headers)
    assert stats.state("a/m").cooling_until == pytest.approx(clock.now + 1.0)


def test_anthropic_rfc3339_reset(stats, clock):
    # Given Anthropic's headers: 1 of 50 requests left, reset as an RFC 3339 time in 30 s
    reset = (datetime.now(UTC) + timedelta(seconds=30)).isoformat().replace("+00:00", "Z")
    headers = {
        "anthropic-ratelimit-requests-limit": "50",
        "anthropic-ratelimit-requests-remaining": "1",
        "anthropic-ratelimit-requests-reset": reset,
    }
    stats.observe_headers("anthropic/claude", 200, headers)
    state = stats.state("anthropic/claude")
    assert state.remaining_requests == pytest.approx(0.02)
    assert state.cooling_until - clock.now == pytest.approx(30.0, abs=1.0)


def test_a_reset_in_the_past_does_not_cool(stats, clock):
    headers = {
        "anthropic-ratelimit-tokens-limit": "1000",
        "anthropic-ratelimit-tokens-remaining": "0",
        "anthropic-ratelimit-tokens-reset": "2020-01-01T00:00:00Z",
    }
    stats.observe_headers("anthropic/claude", 200, headers)
    assert not stats.state("anthropic/claude").cooling(clock.now)


@pytest.mark.parametrize(
    ("headers", "wait"),
    [
        ({"retry-after": "2"}, 2.0),
        ({"retry-after-ms": "300", "retry-after": "9"}, 0.3),
        ({"retry-after": "soon"}, None),
        ({"retry-after": "inf"}, None),
    ],
)
def test_retry_after_on_429_cools(stats, clock, headers, wait):
    stats.observe_headers("a/m", 429, headers)
    state = stats.state("a/m")
    if wait is None:
        assert not state.cooling(clock.now)
    else:
        assert state.cooling_until == pytest.approx(clock.now + wait)


def test_retry_after_as_an_http_date(stats, clock):
    when = format_datetime(datetime.fromtimestamp(time.time() + 20, UTC), usegmt=True)
    stats.observe_headers("a/m", 503, {"retry-after": when})
    assert stats.state("a/m").cooling_until - clock.now == pytest.approx(20.0, abs=1.5)


def test_retry_after_on_a_success_is_ignored(stats, clock):
    stats.observe_headers("a/m", 200, {"retry-after": "5"})
    assert not stats.state("a/m").cooling(clock.now)


def test_cooling_only_ever_extends(stats, clock):
    stats.failed("a/m", retry_after=10.0)
    stats.observe_headers("a/m", 429, {"retry-after": "1"})
    assert stats.state("a/m").cooling_until == pytest.approx(clock.now + 10.0)


def test_quantiles_need_min_samples_then_use_nearest_rank():
    series = Series(alpha=0.5)
    for value in range(1, MIN_SAMPLES):
        series.add(float(value))
    assert series.quantile(0.5) is None  # cold: 7 samples
    series.add(8.0)
    # 1..8: the median is the 4th (nearest rank), p90 the 8th, p0 the smallest
    assert series.quantile(0.5) == 4.0
    assert series.quantile(0.9) == 8.0
    assert series.quantile(0.0) == 1.0
    series.add(100.0)  # a new sample re-sorts
    assert series.quantile(0.99) == 100.0


def test_ewma_follows_the_samples():
    series = Series(alpha=0.5)
    series.add(1.0)
    series.add(3.0)
    assert series.ewma == pytest.approx(2.0)


def test_succeeded_feeds_ttft_or_total_by_kind(stats):
    stats.succeeded("a/m", 0.2, streamed=True)
    stats.succeeded("a/m", 3.0, streamed=False)
    state = stats.state("a/m")
    assert state.ttft_s.ewma == 0.2 and state.total_s.ewma == 3.0


def test_error_rate_decays_and_fades_when_calls_stop(stats, clock):
    # Given four failures and no success
    for _ in range(4):
        stats.failed("a/m")
    high = stats.error_rate("a/m")
    assert high == pytest.approx(4 / 5)  # with the prior of one success
    # When successes follow, the rate drops
    for _ in range(4):
        stats.succeeded("a/m", 0.1, streamed=True)
    mixed = stats.error_rate("a/m")
    assert 0.3 < mixed < high
    # And when no call comes for a few half-lives, old failures fade toward 0
    clock.now += 90.0
    assert stats.error_rate("a/m") == pytest.approx(0.5 / (1.0 + 1.0))  # 4/8 x 1/8 each
    clock.now += 600.0
    assert stats.error_rate("a/m") < 0.01


def test_error_rate_weighs_recent_calls_more(stats, clock):
    stats.failed("a/m")
    clock.now += 60.0  # two half-lives: the failure counts a quarter
    stats.succeeded("a/m", 0.1, streamed=True)
    assert stats.error_rate("a/m") == pytest.approx(0.25 / (1.25 + 1.0))


def test_unknown_deployments_have_no_errors(stats):
    assert stats.error_rate("never/seen") == 0.0


def test_outstanding_counts_calls_in_flight_and_never_goes_negative(stats):
    stats.started("a/m")
    stats.started("a/m")
    stats.finished("a/m")
    assert stats.state("a/m").outstanding == 1
    stats.finished("a/m")
    stats.finished("a/m")
    assert stats.state("a/m").outstanding == 0
