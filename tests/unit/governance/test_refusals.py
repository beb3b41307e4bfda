"""A ledger refusal as the client sees it: OpenAI's error shape, retry-after, x-ratelimit."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from orchestra.api.errors import error_response
from orchestra.errors import BudgetExceeded, RequestRateLimited
from orchestra.governance.ledger import Ledger, Scope
from orchestra.governance.memory import MemoryLedgerBackend
from orchestra.governance.records import Limits, to_nanos

from .conftest import FakeClock


async def test_an_exhausted_budget_is_a_429_naming_it_and_its_reset() -> None:
    ledger = Ledger(MemoryLedgerBackend(), clock=FakeClock())
    scope = Scope("team", "search", Limits(budget_day_usd=Decimal("0.5")))
    with pytest.raises(BudgetExceeded) as refused:
        await ledger.hold([scope], to_nanos("0.6"), 0, count_request=True)
    response = error_response(refused.value)
    body = json.loads(response.body)
    assert response.status_code == 429
    assert response.headers["retry-after"] == str(11 * 3600 + 59 * 60 + 30)
    assert body["error"]["code"] == "budget_exceeded"
    assert body["error"]["type"] == "insufficient_quota"
    assert "team:search:day" in body["error"]["message"]
    assert "2026-12-02T00:00:00Z" in body["error"]["message"]


async def test_a_spent_minute_is_a_429_with_retry_after_and_ratelimit_headers() -> None:
    ledger = Ledger(MemoryLedgerBackend(), clock=FakeClock())
    scope = Scope("key", "ci-bot", Limits(rpm=1, tpm=500))
    await ledger.hold([scope], 0, 200, count_request=True)
    with pytest.raises(RequestRateLimited) as refused:
        await ledger.hold([scope], 0, 200, count_request=True)
    response = error_response(refused.value)
    assert response.status_code == 429
    assert response.headers["retry-after"] == "30"
    assert response.headers["x-ratelimit-remaining-requests"] == "0"
    assert response.headers["x-ratelimit-remaining-tokens"] == "300"
    assert response.headers["x-ratelimit-reset-tokens"] == "30s"
    assert json.loads(response.body)["error"]["code"] == "rate_limit_exceeded"
