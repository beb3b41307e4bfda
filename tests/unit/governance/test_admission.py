"""The governor: policies through a per-instance cache, scopes, guardrail modes, fail closed."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest

from orchestra.caller import Principal
from orchestra.config import Settings
from orchestra.errors import StorageError
from orchestra.governance.admission import (
    Governor,
    GuardrailModes,
    admission_headers,
    admitted_as,
    current_admission,
    rate_headers,
)
from orchestra.governance.protocols import RateState
from orchestra.governance.records import GuardrailSettings, KeyPolicy, TeamPolicy

from support.governance import FakeLedger, FakePolicies


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _store() -> FakePolicies:
    return FakePolicies(
        keys={
            "ci": KeyPolicy(key_id="ci", team="ml", budget_day_usd=Decimal("5"), rpm=60),
            "free": KeyPolicy(key_id="free"),
            "capped": KeyPolicy(key_id="capped", max_request_usd=Decimal("0.01")),
        },
        teams={"ml": TeamPolicy(team_id="ml", budget_month_usd=Decimal("100"))},
    )


async def test_a_key_with_a_team_holds_against_both_scopes() -> None:
    governor = Governor(Settings(), policies=_store(), ledger=FakeLedger())
    admission = await governor.admit(Principal("ci"))
    assert admission.ledger is not None
    assert [(s.kind, s.id) for s in admission.scopes] == [("key", "ci"), ("team", "ml")]
    assert admission.team is not None and admission.team.team_id == "ml"


async def test_a_key_limiting_nothing_is_not_metered() -> None:
    governor = Governor(Settings(), policies=_store(), ledger=FakeLedger())
    assert (await governor.admit(Principal("free"))).ledger is None
    assert (await governor.admit(Principal("nobody"))).ledger is None
    # a per-request cap alone is still the ledger's to check (it does so without I/O)
    assert (await governor.admit(Principal("capped"))).ledger is not None


async def test_a_warm_cache_reads_nothing_until_it_expires() -> None:
    # Given a 30 s policy cache
    store, clock = _store(), Clock()
    governor = Governor(Settings(policy_cache_s=30), policies=store, ledger=None, clock=clock)
    await governor.admit(Principal("ci"))
    reads = store.reads
    # When the same key is admitted a hundred times within the TTL
    for _ in range(100):
        await governor.admit(Principal("ci"))
    # Then the store is not read again
    assert store.reads == reads == 2  # the key and its team
    # And once the TTL passed, it is
    clock.now += 31
    await governor.admit(Principal("ci"))
    assert store.reads == 4


async def test_concurrent_cold_admissions_share_one_read() -> None:
    store = _store()
    store.delay = 0.01
    governor = Governor(Settings(), policies=store)
    await asyncio.gather(*(governor.admit(Principal("free")) for _ in range(20)))
    assert store.reads == 1


async def test_an_unreadable_policy_store_fails_closed() -> None:
    # Given a store that cannot be read (a budget must never be silently skipped)
    store = _store()
    store.failing = True
    governor = Governor(Settings(), policies=store, ledger=FakeLedger())
    # Then the request is refused with a 503, whose message names no internals
    with pytest.raises(StorageError) as refused:
        await governor.admit(Principal("ci"))
    assert refused.value.status == 503
    assert "unreachable" not in refused.value.message
    # And the failure is not cached: the next request reads again
    store.failing = False
    assert (await governor.admit(Principal("ci"))).ledger is not None


async def test_a_keys_guardrails_override_the_settings() -> None:
    store = _store()
    store.keys["strict"] = KeyPolicy(
        key_id="strict", guardrails=GuardrailSettings(injection="block", redact_output=True)
    )
    settings = Settings(guardrail_injection="flag", guardrail_secrets="flag")
    governor = Governor(settings, policies=store)
    strict = (await governor.admit(Principal("strict"))).guardrails
    default = (await governor.admit(Principal("free"))).guardrails
    assert strict == GuardrailModes("block", "flag", "off", 100_000, True)
    assert default == GuardrailModes("flag", "flag", "off", 100_000, False)


async def test_without_a_store_the_settings_decide() -> None:
    governor = Governor(Settings(guardrail_size="block", guardrail_max_message_chars=10))
    admission = await governor.admit(Principal("anyone"))
    assert admission.ledger is None
    assert admission.guardrails.size == "block"
    assert admission.guardrails.max_message_chars == 10


async def test_headers_say_the_tightest_limits_and_the_flags() -> None:
    governor = Governor(Settings())
    admission = await governor.admit(Principal("k"))
    admission.rate = [
        RateState(limit_requests=60, remaining_requests=59, reset_s=12),
        RateState(limit_requests=1000, remaining_requests=3, reset_s=40),
    ]
    admission.flag("injection", "flag")
    admission.flag("secrets", "flag")
    admission.flag("injection", "flag")
    token = current_admission.set(admission)
    try:
        headers = admission_headers()
    finally:
        current_admission.reset(token)
    assert headers["x-ratelimit-limit-requests"] == "1000"
    assert headers["x-ratelimit-remaining-requests"] == "3"
    assert headers["x-ratelimit-reset-requests"] == "40s"
    assert headers["x-orchestra-guardrails"] == "injection:flag;secrets:flag"
    assert admission_headers() == {}  # no admission: governance off


def test_rate_headers_of_tokens() -> None:
    headers = rate_headers([RateState(limit_tokens=1000, remaining_tokens=-5, reset_s=3)])
    assert headers == {
        "x-ratelimit-limit-tokens": "1000",
        "x-ratelimit-remaining-tokens": "0",
        "x-ratelimit-reset-tokens": "3s",
    }


async def test_admitted_as_sets_the_creators_admission_for_the_block_only() -> None:
    # Given a workflow step run as the key that created the run
    governor = Governor(Settings(), policies=_store(), ledger=FakeLedger())
    assert current_admission.get() is None
    async with admitted_as(governor, "ci"):
        inside = current_admission.get()
    # Then its calls were admitted as that key (its team's scopes too), and only inside
    assert inside is not None and [s.id for s in inside.scopes] == ["ci", "ml"]
    assert current_admission.get() is None


async def test_admitted_as_without_governance_or_a_key() -> None:
    async with admitted_as(None, "ci"):
        assert current_admission.get() is None  # governance off: nothing admitted
    governor = Governor(Settings(), policies=_store(), ledger=FakeLedger())
    async with admitted_as(governor, None):
        anonymous = current_admission.get()
    assert anonymous is not None and anonymous.key_id == "anonymous"
