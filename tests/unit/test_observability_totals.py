"""Totals the alarms divide (Requests, FallbackRequests, BreakerOpened) and the breaker hook."""

from __future__ import annotations

import json

import pytest
from aws_lambda_powertools import Metrics

from orchestra.observability import EmfObserver
from orchestra.resilience.breaker import BreakerPolicy, CircuitBreaker
from orchestra.storage.memory import MemoryBreakerBackend


def _flushed(metrics: Metrics, capsys: pytest.CaptureFixture[str]) -> list[dict]:
    capsys.readouterr()
    metrics.flush_metrics()
    return [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.strip()]


def test_completed_adds_service_level_totals(capsys: pytest.CaptureFixture[str]) -> None:
    metrics = Metrics(namespace="Orchestra", service="orchestra-generate")
    observer = EmfObserver(metrics)
    capsys.readouterr()
    observer.completed("m1", usage=None, cost_usd=0.0, latency_ms=10, fallbacks=2)
    observer.completed("m2", usage=None, cost_usd=0.0, latency_ms=10, fallbacks=0)
    blobs = _flushed(metrics, capsys)
    totals = blobs[-1]
    directive = totals["_aws"]["CloudWatchMetrics"][0]
    assert directive["Dimensions"] == [["service"]]
    assert totals["Requests"] == [1.0, 1.0]
    assert totals["FallbackRequests"] == [1.0, 0.0]


async def test_breaker_reports_each_opening_once() -> None:
    opened: list[str] = []
    breaker = CircuitBreaker(
        MemoryBreakerBackend(), BreakerPolicy(failure_threshold=2), on_open=opened.append
    )
    for _ in range(4):
        await breaker.record_failure("m1")
    assert opened == ["m1"]


def test_guardrail_actions_and_refusals_are_emf_metrics(
    capsys: pytest.CaptureFixture[str],
) -> None:
    metrics = Metrics(namespace="Orchestra", service="orchestra-generate")
    observer = EmfObserver(metrics)
    capsys.readouterr()
    observer.guardrail("injection", "ignore_previous", "flag")
    observer.refused("budget_exceeded")
    blobs = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.strip()]
    guardrail, refusal = blobs
    assert guardrail["Guardrail"] == "injection:flag" and guardrail["GuardrailActions"] == [1.0]
    assert "ignore_previous" not in json.dumps(guardrail)  # rules stay in the audit log
    assert refusal["Refusal"] == "budget_exceeded" and refusal["PolicyRefusals"] == [1.0]
    totals = _flushed(metrics, capsys)[-1]
    assert totals["PolicyRefusals"] == [1.0]


def test_cache_outcomes_and_savings_are_function_totals(
    capsys: pytest.CaptureFixture[str],
) -> None:
    metrics = Metrics(namespace="Orchestra", service="orchestra-generate")
    observer = EmfObserver(metrics)
    capsys.readouterr()
    # Given an exact hit, a semantic hit, a stale answer, a miss and a bypass
    observer.cache("hit", "exact", 0.25)
    observer.cache("hit", "semantic", 0.5)
    observer.cache("stale", "exact", 1.0)
    observer.cache("miss", None, 0.0)
    observer.cache("bypass", None, 0.0)
    # Then no blob of its own (no dimension per outcome), only the function's totals
    assert capsys.readouterr().out == ""
    totals = _flushed(metrics, capsys)[-1]
    assert totals["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["service"]]
    assert totals["CacheHits"] == [1.0, 1.0]
    assert totals["CacheSemanticHits"] == [1.0]
    once = ("CacheStaleHits", "CacheMisses", "CacheBypasses")
    assert [totals[name] for name in once] == [[1.0]] * 3
    assert totals["CacheSavedUSD"] == [0.25, 0.5, 1.0]


def test_the_log_observer_writes_a_debug_line(caplog: pytest.LogCaptureFixture) -> None:
    from orchestra.observability import LogObserver

    with caplog.at_level("DEBUG", logger="orchestra"):
        LogObserver().cache("hit", "semantic", 0.5)
    (record,) = [r for r in caplog.records if r.getMessage() == "cache"]
    assert (record.outcome, record.match, record.saved_usd) == ("hit", "semantic", 0.5)  # type: ignore[attr-defined]
