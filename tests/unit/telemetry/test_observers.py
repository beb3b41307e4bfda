"""``Observers``: several observers heard as one; a member without a hook is skipped."""

from __future__ import annotations

from typing import Any

from orchestra.errors import Overloaded
from orchestra.observability import Fused, LogObserver, Observers
from orchestra.schemas.chat import Usage


class Recording:
    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    def attempt(self, model_id, error, latency_ms):
        self.calls.append(("attempt", (model_id, error, latency_ms)))

    def completed(self, model_id, *, usage, cost_usd, latency_ms, fallbacks):
        self.calls.append(("completed", (model_id, usage, cost_usd, latency_ms, fallbacks)))

    def breaker_opened(self, model_id):
        self.calls.append(("breaker_opened", model_id))

    def hedged(self, model_id, *, won, cost_usd):
        self.calls.append(("hedged", (model_id, won, cost_usd)))

    def fused(self, summary):
        self.calls.append(("fused", summary))

    def guardrail(self, check, rule, action):
        self.calls.append(("guardrail", (check, rule, action)))

    def refused(self, code):
        self.calls.append(("refused", code))

    def cache(self, outcome, match, saved_usd):
        self.calls.append(("cache", (outcome, match, saved_usd)))


class Older:
    """An observer written before guardrails existed: only the first hooks."""

    def __init__(self) -> None:
        self.attempts = 0

    def attempt(self, model_id, error, latency_ms):
        self.attempts += 1


def test_every_hook_reaches_every_member_in_order():
    first, second = Recording(), Recording()
    observers = Observers(first, LogObserver(), second)
    error = Overloaded("busy", provider="p", model="m")
    usage = Usage.of(1, 2)
    summary = Fused("vote", 2, 2, 1.0, 1.0, 0.0, 1.0)
    observers.attempt("m", error, 1.5)
    observers.completed("m", usage=usage, cost_usd=0.1, latency_ms=2.0, fallbacks=1)
    observers.breaker_opened("m")
    observers.hedged("m", won=True, cost_usd=0.2)
    observers.fused(summary)
    observers.guardrail("secrets", "aws_key", "block")
    observers.refused("budget_exceeded")
    observers.cache("hit", "exact", 0.5)
    expected = [
        ("attempt", ("m", error, 1.5)),
        ("completed", ("m", usage, 0.1, 2.0, 1)),
        ("breaker_opened", "m"),
        ("hedged", ("m", True, 0.2)),
        ("fused", summary),
        ("guardrail", ("secrets", "aws_key", "block")),
        ("refused", "budget_exceeded"),
        ("cache", ("hit", "exact", 0.5)),
    ]
    assert first.calls == expected
    assert second.calls == expected


def test_a_member_without_a_hook_is_skipped_for_it():
    older, recording = Older(), Recording()
    observers = Observers(older, recording)
    observers.attempt("m", None, 1.0)
    observers.guardrail("injection", "dan", "flag")  # Older has no such hook
    assert older.attempts == 1
    assert recording.calls[-1] == ("guardrail", ("injection", "dan", "flag"))


def test_an_observer_from_before_the_cache_is_skipped_for_it():
    older, recording = Older(), Recording()
    Observers(older, recording).cache("miss", None, 0.0)
    assert recording.calls == [("cache", ("miss", None, 0.0))]
