"""``x-ratelimit-*`` headers in OpenAI's form, and the windows counters are named for."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from orchestra.governance.ledger import rate_headers
from orchestra.governance.protocols import RateState
from orchestra.governance.windows import duration_text, period_at, stale_attributes
from orchestra.resilience.deployment_stats import _reset_seconds


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0s"),
        (0.0004, "1ms"),
        (0.02, "20ms"),
        (1, "1s"),
        (12, "12s"),
        (59.5, "59.5s"),
        (60, "1m0s"),
        (179.56, "2m59.56s"),
        (360, "6m0s"),
        (3600, "1h0m0s"),
    ],
)
def test_durations_are_written_as_openai_writes_them(seconds: float, text: str) -> None:
    assert duration_text(seconds) == text
    # and Orchestra's own reader of upstream headers reads them back
    assert _reset_seconds(text) == pytest.approx(max(seconds, 0.001) if seconds else 0)


def test_headers_come_from_the_tightest_scope_of_each_kind() -> None:
    key = RateState(
        limit_requests=60,
        remaining_requests=59,
        limit_tokens=10_000,
        remaining_tokens=100,
        reset_s=12.0,
    )
    team = RateState(limit_requests=600, remaining_requests=3, reset_s=12.0)
    assert rate_headers([key, team]) == {
        "x-ratelimit-limit-requests": "600",
        "x-ratelimit-remaining-requests": "3",
        "x-ratelimit-reset-requests": "12s",
        "x-ratelimit-limit-tokens": "10000",
        "x-ratelimit-remaining-tokens": "100",
        "x-ratelimit-reset-tokens": "12s",
    }


def test_no_limits_no_headers() -> None:
    assert rate_headers([]) == {}
    assert rate_headers([RateState(reset_s=3.0)]) == {}


def test_periods_are_utc_days_and_months() -> None:
    now = datetime(2026, 12, 31, 23, 59, 59, tzinfo=UTC).timestamp()
    period = period_at(now)
    assert (period.day, period.month) == ("d_20261231", "m_202612")
    assert period.day_ends == int(now) + 1
    assert period.month_ends == int(now) + 1
    assert (period.oldest_day, period.oldest_month) == ("d_20261229", "m_202611")


def test_stale_counters_are_those_no_one_reads_again() -> None:
    now = datetime(2026, 12, 1, 0, 0, 30, tzinfo=UTC).timestamp()
    minute = int(now // 60)
    names = [
        "pk",
        "sk",
        "expires_at",
        "h_abc",
        "d_20261201",
        "d_20261130",
        "d_20261129",
        "d_20261128",
        "m_202612",
        "m_202611",
        "m_202610",
        f"r_{minute}",
        f"r_{minute - 2}",
        f"r_{minute - 3}",
        f"t_{minute - 60}",
    ]
    assert stale_attributes(names, now) == {
        "d_20261128",
        "m_202610",
        f"r_{minute - 3}",
        f"t_{minute - 60}",
    }
