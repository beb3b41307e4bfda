"""Spend reports: periods checked, rows grouped, and a client key sees only its own."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from orchestra.errors import InvalidRequest
from orchestra.governance.protocols import SpendRow
from orchestra.governance.spend import MAX_DAYS, SpendReport, period, totals
from orchestra.storage.spend import MemorySpendBackend

NOW = datetime(2026, 3, 17, 12, tzinfo=UTC).timestamp()


def row(day: str, key: str, team: str | None, model: str, cost: int) -> SpendRow:
    return SpendRow(day, key, team, model, cost, 1, 100, 50, 10)


ROWS = [
    row("2026-03-01", "ci", "data", "gpt-4o", 3_000_000_000),
    row("2026-03-01", "bot", "data", "claude", 1_000_000_000),
    row("2026-03-02", "ci", "data", "claude", 10),
    row("2026-03-02", "solo", None, "gpt-4o", 5),
    row("2026-02-20", "ci", "data", "gpt-4o", 999),  # last month
]


@pytest.fixture
async def report() -> SpendReport:
    backend = MemorySpendBackend()
    for r in ROWS:
        await backend.add(r)
    return SpendReport(backend, clock=lambda: NOW)


def test_the_default_period_is_the_current_month_to_date() -> None:
    today = date(2026, 3, 17)
    assert period(None, None, today=today) == period("2026-03-01", "2026-03-17", today=today)
    # only 'to' given: its month's first day to it
    assert period(None, "2026-02-10", today=today).start == "2026-02-01"


@pytest.mark.parametrize(
    ("day_from", "day_to", "param"),
    [
        ("2026-3-1", None, "from"),
        ("yesterday", None, "from"),
        (None, "2026-02-30", "to"),
        ("2026-03-05", "2026-03-04", "from"),
        ("2025-12-01", "2026-03-03", "from"),  # 93 days
    ],
)
def test_a_bad_period_is_a_400_naming_the_parameter(
    day_from: str | None, day_to: str | None, param: str
) -> None:
    with pytest.raises(InvalidRequest) as refused:
        period(day_from, day_to, today=date(2026, 3, 17))
    assert refused.value.param == param and refused.value.status == 400


def test_the_longest_period_is_92_days() -> None:
    span = period("2025-12-01", "2026-03-02", today=date(2026, 3, 17))
    assert (date.fromisoformat(span.end) - date.fromisoformat(span.start)).days + 1 == MAX_DAYS


def test_totals_group_and_sum_exactly() -> None:
    by_team = totals(ROWS, "team")
    assert [(t.group, t.cost_nanos, t.requests) for t in by_team] == [
        ("data", 4_000_001_009, 4),
        (None, 5, 1),
    ]
    by_day = totals(ROWS, "day")
    assert [t.group for t in by_day] == ["2026-02-20", "2026-03-01", "2026-03-02"]
    assert totals(ROWS, "model")[0].to_json()["cost_usd"] == pytest.approx(3.000000999)


async def test_an_admin_sees_every_key_and_may_narrow_to_one(report: SpendReport) -> None:
    every = await report.report(caller="ops", admin=True, by="key")
    assert [g.group for g in every.groups] == ["ci", "bot", "solo"]
    assert every.period.start == "2026-03-01" and every.period.end == "2026-03-17"
    one = await report.report(caller="ops", admin=True, key="bot")
    assert [g.group for g in one.groups] == ["bot"]


async def test_a_client_key_sees_only_its_own_whatever_it_asks(report: SpendReport) -> None:
    # When "solo" asks for ci's spend
    mine = await report.report(caller="solo", admin=False, by="model", key="ci")
    # Then it gets its own rows, never ci's
    assert [(g.group, g.cost_nanos) for g in mine.groups] == [("gpt-4o", 5)]
    body = mine.to_json()
    assert body["object"] == "list" and body["total_cost_nanos"] == 5


async def test_an_unknown_grouping_is_a_400(report: SpendReport) -> None:
    with pytest.raises(InvalidRequest) as refused:
        await report.report(caller="ops", admin=True, by="provider")
    assert refused.value.param == "group_by"


async def test_answers_from_cache_are_totalled_with_what_they_saved() -> None:
    # Given one paid call and two answers from cache of the same key
    backend = MemorySpendBackend()
    await backend.add(row("2026-03-02", "ci", "data", "gpt-4o", 2_000_000_000))
    for saved in (2_000_000_000, 500_000_000):
        hit = SpendRow("2026-03-02", "ci", "data", "gpt-4o", 0, 1, 0, 0, 0, 1, saved)
        await backend.add(hit)
    await backend.add(SpendRow("2026-03-02", "bot", None, "claude", 0, 1, 0, 0, 0, 1, 250))
    # When the report is read
    report = await SpendReport(backend, clock=lambda: NOW).report(caller="x", admin=True)
    body = report.to_json()
    # Then each group and the whole carry hits and savings, in USD and exact nanos
    ci = next(g for g in body["data"] if g["group"] == "ci")
    assert (ci["requests"], ci["cache_hits"], ci["saved_nanos"]) == (3, 2, 2_500_000_000)
    assert ci["saved_usd"] == 2.5 and ci["cost_usd"] == 2.0
    assert (body["total_cache_hits"], body["total_saved_nanos"]) == (3, 2_500_000_250)
    assert body["total_saved_usd"] == pytest.approx(2.50000025)


def test_a_group_without_hits_shows_zero() -> None:
    (total,) = totals([row("2026-03-01", "ci", None, "m", 5)], "key")
    assert (total.to_json()["cache_hits"], total.to_json()["saved_usd"]) == (0, 0.0)
