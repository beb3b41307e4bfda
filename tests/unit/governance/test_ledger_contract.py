"""The ledger's contract, run over both backends (memory and DynamoDB under moto).

Every test taking ``backend`` runs once per backend, so the two cannot drift.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from orchestra.errors import BudgetExceeded, RequestRateLimited
from orchestra.governance.ledger import Ledger, Scope
from orchestra.governance.records import Limits, to_nanos

from .conftest import T0, FakeClock

HOLD_TTL = 900


def usd(value: str) -> int:
    return to_nanos(Decimal(value))


def key(**limits: Any) -> Scope:
    return Scope("key", "ci-bot", Limits(**limits))


def team(**limits: Any) -> Scope:
    return Scope("team", "search", Limits(**limits))


@pytest.fixture
def ledger(backend: Any, clock: FakeClock) -> Ledger:
    return Ledger(backend, hold_ttl_s=HOLD_TTL, clock=clock)


# --- holds and settles --------------------------------------------------------------------


async def test_a_hold_within_budget_commits_the_worst_case(ledger: Ledger) -> None:
    scope = key(budget_day_usd=Decimal("1"))
    hold, states = await ledger.hold([scope], usd("0.3"), 100, count_request=True)
    usage = await ledger.usage(scope)
    assert (usage.day_nanos, usage.month_nanos, usage.held_nanos) == (usd("0.3"),) * 3
    assert usage.holds == 1
    assert hold.scopes == (scope,)
    assert len(states) == 1


async def test_a_refused_hold_leaves_nothing_held(ledger: Ledger) -> None:
    scope = key(budget_day_usd=Decimal("1"))
    await ledger.hold([scope], usd("0.6"), 10, count_request=True)
    # When a second worst case would pass the day's budget
    with pytest.raises(BudgetExceeded) as refused:
        await ledger.hold([scope], usd("0.6"), 10, count_request=True)
    # Then it names the budget and when it resets, and only the first hold remains
    assert refused.value.budget == "key:ci-bot:day"
    assert refused.value.resets_at == "2026-12-02T00:00:00Z"
    assert refused.value.retry_after == pytest.approx(11 * 3600 + 59 * 60 + 30)
    assert refused.value.status == 429 and refused.value.code == "budget_exceeded"
    usage = await ledger.usage(scope)
    assert (usage.day_nanos, usage.held_nanos, usage.holds) == (usd("0.6"), usd("0.6"), 1)


async def test_a_budget_exactly_filled_admits_the_last_nano(ledger: Ledger) -> None:
    scope = key(budget_day_usd=Decimal("1"))
    await ledger.hold([scope], usd("0.4"), 0, count_request=False)
    await ledger.hold([scope], usd("0.6"), 0, count_request=False)
    with pytest.raises(BudgetExceeded):
        await ledger.hold([scope], 1, 0, count_request=False)


async def test_settle_moves_the_hold_down_or_up_to_the_actual_cost(ledger: Ledger) -> None:
    scope = key(budget_day_usd=Decimal("1"), budget_month_usd=Decimal("5"))
    down, _ = await ledger.hold([scope], usd("0.8"), 100, count_request=True)
    await ledger.settle(down, usd("0.2"), 40)
    # the released 0.6 is available again
    up, _ = await ledger.hold([scope], usd("0.8"), 100, count_request=True)
    await ledger.settle(up, usd("0.85"), 120)
    usage = await ledger.usage(scope)
    assert (usage.day_nanos, usage.month_nanos) == (usd("1.05"), usd("1.05"))
    assert (usage.held_nanos, usage.holds) == (0, 0)
    assert usage.tokens_this_minute == 160


async def test_release_gives_everything_back_but_the_request(ledger: Ledger) -> None:
    scope = key(budget_day_usd=Decimal("1"), rpm=10, tpm=1000)
    hold, _ = await ledger.hold([scope], usd("0.9"), 500, count_request=True)
    await ledger.release(hold)
    usage = await ledger.usage(scope)
    assert (usage.day_nanos, usage.holds, usage.tokens_this_minute) == (0, 0, 0)
    assert usage.requests_this_minute == 1


async def test_day_and_month_windows_roll_over(ledger: Ledger, clock: FakeClock) -> None:
    scope = key(budget_day_usd=Decimal("1"), budget_month_usd=Decimal("1.5"))
    hold, _ = await ledger.hold([scope], usd("0.9"), 0, count_request=False)
    await ledger.settle(hold, usd("0.9"), 0)
    with pytest.raises(BudgetExceeded):
        await ledger.hold([scope], usd("0.5"), 0, count_request=False)
    # Given the next day: the day's budget is fresh, the month's counts both days
    clock.now = T0 + 86400
    hold, _ = await ledger.hold([scope], usd("0.5"), 0, count_request=False)
    await ledger.settle(hold, usd("0.5"), 0)
    with pytest.raises(BudgetExceeded) as refused:
        await ledger.hold([scope], usd("0.2"), 0, count_request=False)
    assert refused.value.budget == "key:ci-bot:month"
    assert refused.value.resets_at == "2027-01-01T00:00:00Z"
    # Given the next month (2027-01-02): both are fresh
    clock.now = T0 + 32 * 86400
    await ledger.hold([scope], usd("0.9"), 0, count_request=False)
    usage = await ledger.usage(scope)
    assert (usage.day_nanos, usage.month_nanos) == (usd("0.9"), usd("0.9"))


async def test_a_hold_settles_into_the_day_it_was_taken(ledger: Ledger, clock: FakeClock) -> None:
    scope = key(budget_day_usd=Decimal("1"))
    clock.now = T0 + 12 * 3600 - 60  # 23:59:30
    hold, _ = await ledger.hold([scope], usd("0.8"), 0, count_request=False)
    clock.now = T0 + 12 * 3600  # 00:00:30 the next day
    await ledger.settle(hold, usd("0.3"), 0)
    assert (await ledger.usage(scope)).day_nanos == 0
    clock.now = T0 + 12 * 3600 - 60
    assert (await ledger.usage(scope)).day_nanos == usd("0.3")


async def test_stale_window_counters_are_dropped(
    ledger: Ledger, backend: Any, clock: FakeClock
) -> None:
    scope = key(rpm=100, budget_day_usd=Decimal("10"))
    await ledger.hold([scope], usd("0.1"), 5, count_request=True)
    old = {name for name in await backend.read(scope.pk) if name[:2] in ("d_", "r_", "t_")}
    clock.now = T0 + 3 * 86400 + 600
    # the first reservation sees them stale, the next one removes them
    for _ in range(2):
        await ledger.hold([scope], usd("0.1"), 5, count_request=True)
    assert not old & set(await backend.read(scope.pk))


# --- rate limits ---------------------------------------------------------------------------


async def test_rpm_counts_requests_per_minute(ledger: Ledger, clock: FakeClock) -> None:
    scope = key(rpm=2)
    for _ in range(2):
        await ledger.hold([scope], 0, 0, count_request=True)
    # a further call of the same request (no new request) is not counted
    await ledger.hold([scope], 0, 0, count_request=False)
    with pytest.raises(RequestRateLimited) as refused:
        await ledger.hold([scope], 0, 0, count_request=True)
    assert refused.value.limit == "key:ci-bot:rpm"
    assert refused.value.retry_after == pytest.approx(30.0)
    assert refused.value.headers == {
        "x-ratelimit-limit-requests": "2",
        "x-ratelimit-remaining-requests": "0",
        "x-ratelimit-reset-requests": "30s",
    }
    clock.now = T0 + 30
    _, states = await ledger.hold([scope], 0, 0, count_request=True)
    assert (states[0].limit_requests, states[0].remaining_requests) == (2, 1)


async def test_tpm_counts_tokens_per_minute(ledger: Ledger, clock: FakeClock) -> None:
    scope = key(tpm=1000)
    first, states = await ledger.hold([scope], 0, 600, count_request=True)
    assert states[0].remaining_tokens == 400
    with pytest.raises(RequestRateLimited) as refused:
        await ledger.hold([scope], 0, 600, count_request=True)
    assert refused.value.limit == "key:ci-bot:tpm" and refused.value.type == "tokens"
    assert refused.value.headers["x-ratelimit-remaining-tokens"] == "400"
    # the first call used only 300: the second now fits
    await ledger.settle(first, 0, 300)
    await ledger.hold([scope], 0, 600, count_request=True)
    clock.now = T0 + 60
    _, states = await ledger.hold([scope], 0, 1000, count_request=True)
    assert states[0].remaining_tokens == 0


async def test_a_call_larger_than_a_limit_is_refused_without_io(
    ledger: Ledger, backend: Any
) -> None:
    with pytest.raises(RequestRateLimited):
        await ledger.hold([key(tpm=100)], 0, 101, count_request=True)
    with pytest.raises(BudgetExceeded):
        await ledger.hold([key(budget_month_usd=Decimal("1"))], usd("1.01"), 0, count_request=True)
    assert backend.calls == 0


# --- key and team --------------------------------------------------------------------------


async def test_key_and_team_are_both_metered(ledger: Ledger, backend: Any) -> None:
    k, t = key(budget_day_usd=Decimal("10"), rpm=10), team(budget_day_usd=Decimal("1"))
    hold, states = await ledger.hold([k, t], usd("0.6"), 50, count_request=True)
    assert backend.calls == 2  # one update per metered scope
    assert len(states) == 2
    # When the team refuses the next call
    with pytest.raises(BudgetExceeded) as refused:
        await ledger.hold([k, t], usd("0.6"), 50, count_request=True)
    # Then the key's hold for it was compensated: money, tokens and the request
    assert refused.value.budget == "team:search:day"
    key_usage, team_usage = await ledger.usage(k), await ledger.usage(t)
    assert (key_usage.day_nanos, key_usage.holds, key_usage.requests_this_minute) == (
        usd("0.6"),
        1,
        1,
    )
    assert key_usage.tokens_this_minute == 50
    assert (team_usage.day_nanos, team_usage.holds) == (usd("0.6"), 1)
    calls = backend.calls
    await ledger.settle(hold, usd("0.1"), 20)
    assert backend.calls == calls + 2
    assert (await ledger.usage(t)).day_nanos == usd("0.1")
    assert (await ledger.usage(k)).day_nanos == usd("0.1")


async def test_max_request_is_refused_locally_with_no_io(ledger: Ledger, backend: Any) -> None:
    scope = key(max_request_usd=Decimal("0.05"), budget_day_usd=Decimal("10"))
    with pytest.raises(BudgetExceeded) as refused:
        await ledger.hold([team(), scope], usd("0.050000001"), 0, count_request=True)
    assert refused.value.budget == "key:ci-bot:request"
    assert refused.value.resets_at is None
    assert backend.calls == 0
    await ledger.hold([scope], usd("0.05"), 0, count_request=True)


async def test_an_unmetered_scope_costs_no_io(ledger: Ledger, backend: Any) -> None:
    hold, states = await ledger.hold([key(), team()], usd("5"), 10_000, count_request=True)
    await ledger.settle(hold, usd("1"), 10)
    assert (hold.scopes, states, backend.calls) == ((), [], 0)
    # only the metered one of two is touched
    hold, _ = await ledger.hold([key(), team(rpm=5)], usd("5"), 10, count_request=True)
    await ledger.settle(hold, usd("1"), 10)
    assert backend.calls == 2


# --- crashed requests ---------------------------------------------------------------------


async def test_an_expired_hold_is_reclaimed(ledger: Ledger, clock: FakeClock) -> None:
    scope = key(budget_day_usd=Decimal("1"))
    await ledger.hold([scope], usd("0.7"), 0, count_request=True)  # its request crashes
    with pytest.raises(BudgetExceeded):  # not expired yet: it still counts
        await ledger.hold([scope], usd("0.7"), 0, count_request=True)
    clock.now = T0 + HOLD_TTL + 1
    # When a hold only fits once the crashed one is given back
    await ledger.hold([scope], usd("0.7"), 0, count_request=True)
    usage = await ledger.usage(scope)
    assert (usage.day_nanos, usage.holds) == (usd("0.7"), 1)


async def test_a_settle_after_reclaim_still_adds_the_actual_spend(
    ledger: Ledger, clock: FakeClock
) -> None:
    scope = key(budget_day_usd=Decimal("1"), tpm=10_000)
    slow, _ = await ledger.hold([scope], usd("0.7"), 100, count_request=True)
    clock.now = T0 + HOLD_TTL + 1
    other, _ = await ledger.hold([scope], usd("0.7"), 100, count_request=True)
    # Then the slow request finally ends and settles
    await ledger.settle(slow, usd("0.2"), 50)
    await ledger.settle(other, usd("0.1"), 50)
    usage = await ledger.usage(scope)
    assert (usage.day_nanos, usage.holds, usage.held_nanos) == (usd("0.3"), 0, 0)
