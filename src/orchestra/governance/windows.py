"""The ledger's counting windows: UTC day, UTC month and the minute (``epoch // 60``).

Counters are item attributes named for their window (``d_20261201``, ``m_202612``,
``r_29433600``, ``t_29433600``), so a new window starts by itself: the first ADD of the day
creates its attribute, and yesterday's is left behind. :func:`stale_attributes` names the
left-behind ones so the next reservation can REMOVE them in the same update.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

DAY_PREFIX = "d_"
MONTH_PREFIX = "m_"
REQUESTS_PREFIX = "r_"
TOKENS_PREFIX = "t_"
HOLD_PREFIX = "h_"

#: minute counters older than this many minutes are stale (a hold settles within its TTL
#: into its own minute; the rate limit only ever reads the current one)
_KEEP_MINUTES = 2


@dataclass(frozen=True, slots=True)
class Period:
    """One UTC day and its month: counter names, when each resets, what is stale."""

    day: str
    month: str
    day_ends: int
    month_ends: int
    #: day counters named below this are stale (older than two days)
    oldest_day: str
    #: month counters named below this are stale (older than last month)
    oldest_month: str


@functools.lru_cache(maxsize=8)
def period_of_day(day_index: int) -> Period:
    """The period of UTC day number ``day_index`` (``epoch // 86400``); cached, so a hold
    pays for the calendar arithmetic once a day."""
    start = datetime.fromtimestamp(day_index * 86400, UTC)
    month_start = start.replace(day=1)
    next_month = (month_start + timedelta(days=32)).replace(day=1)
    last_month = (month_start - timedelta(days=1)).replace(day=1)
    return Period(
        day=f"{DAY_PREFIX}{start:%Y%m%d}",
        month=f"{MONTH_PREFIX}{start:%Y%m}",
        day_ends=(day_index + 1) * 86400,
        month_ends=int(next_month.timestamp()),
        oldest_day=f"{DAY_PREFIX}{start - timedelta(days=2):%Y%m%d}",
        oldest_month=f"{MONTH_PREFIX}{last_month:%Y%m}",
    )


def period_at(now: float) -> Period:
    return period_of_day(int(now // 86400))


def minute_at(now: float) -> int:
    return int(now // 60)


def iso_utc(epoch: int) -> str:
    """``2026-12-02T00:00:00Z``: the form ``resets_at`` takes."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def stale_attributes(names: Iterable[str], now: float) -> frozenset[str]:
    """The window counters among ``names`` that no hold, settle or limit will read again."""
    period = period_at(now)
    oldest_minute = minute_at(now) - _KEEP_MINUTES
    stale = []
    for name in names:
        prefix = name[:2]
        if prefix == DAY_PREFIX:
            if name < period.oldest_day:
                stale.append(name)
        elif prefix == MONTH_PREFIX:
            if name < period.oldest_month:
                stale.append(name)
        elif (
            prefix in (REQUESTS_PREFIX, TOKENS_PREFIX)
            and name[2:].isdigit()
            and int(name[2:]) < oldest_minute
        ):
            stale.append(name)
    return frozenset(stale)


def duration_text(seconds: float) -> str:
    """A duration as OpenAI writes it in ``x-ratelimit-reset-*`` (Go's form): ``"20ms"``,
    ``"1s"``, ``"59.5s"``, ``"6m0s"``, ``"2m59.56s"``, ``"1h0m0s"``."""
    if seconds <= 0:
        return "0s"
    millis = round(seconds * 1000)
    if millis < 1000:
        return f"{max(millis, 1)}ms"
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs = f"{rest / 1000:.3f}".rstrip("0").rstrip(".")
    if hours:
        return f"{hours}h{minutes}m{secs}s"
    if minutes:
        return f"{minutes}m{secs}s"
    return f"{secs}s"
