"""``PrometheusObserver``: each hook moves the metric it names, with bounded labels."""

from __future__ import annotations

from orchestra.errors import RateLimited
from orchestra.observability import Fused
from orchestra.resilience.breaker import BreakerPolicy, CircuitBreaker, Permit
from orchestra.schemas.chat import Usage
from orchestra.storage.memory import MemoryBreakerBackend
from orchestra.telemetry.prometheus import PrometheusObserver
from orchestra.telemetry.record import RequestRecord


def sample(observer: PrometheusObserver, name: str, **labels: str) -> float | None:
    return observer.registry.get_sample_value(name, labels)


def test_answers_count_tokens_cached_tokens_cost_and_fallbacks():
    observer = PrometheusObserver()
    # Given two answers from one model, the second with cached prompt tokens and a fallback
    observer.completed("m", usage=Usage.of(10, 5), cost_usd=0.5, latency_ms=3, fallbacks=0)
    cached = Usage.of(20, 1, cached=8)
    observer.completed("m", usage=cached, cost_usd=0.25, latency_ms=3, fallbacks=2)
    # Then tokens, cost and fallbacks are summed per model
    assert sample(observer, "orchestra_tokens_total", model="m", kind="prompt") == 30
    assert sample(observer, "orchestra_tokens_total", model="m", kind="completion") == 6
    assert sample(observer, "orchestra_tokens_total", model="m", kind="cached") == 8
    assert sample(observer, "orchestra_cost_usd_total", model="m") == 0.75
    assert sample(observer, "orchestra_fallbacks_total", model="m") == 2


def test_attempts_are_counted_by_provider_and_outcome():
    observer = PrometheusObserver()
    observer.watch(None, lambda model_id: model_id.split("/")[0])
    observer.attempt("alpha/m1", None, 12.0)
    observer.attempt("alpha/m1", RateLimited("slow down", provider="alpha", model="alpha/m1"), 5)
    ok = {"model": "alpha/m1", "provider": "alpha"}
    assert sample(observer, "orchestra_upstream_attempts_total", **ok, outcome="ok") == 1
    limited = RateLimited("x", provider="alpha", model="alpha/m1").code
    assert sample(observer, "orchestra_upstream_attempts_total", **ok, outcome=limited) == 1


def test_requests_latency_and_time_to_first_token():
    observer = PrometheusObserver()
    # Given a stream that took 1.2 s, its first bytes after 0.3 s, and a buffered 404
    stream = RequestRecord("POST", "/x", route="/v1/chat/completions", status=200)
    stream.model, stream.provider, stream.duration_ms, stream.ttft_ms = "m", "p", 1200.0, 300.0
    missing = RequestRecord("GET", "/nowhere", status=404, duration_ms=1.0)
    observer.request_finished(stream)
    observer.request_finished(missing)
    labels = {"route": "/v1/chat/completions", "model": "m", "provider": "p"}
    assert sample(observer, "orchestra_requests_total", **labels, status="200") == 1
    unmatched = {"route": "unmatched", "model": "-", "provider": "-"}
    assert sample(observer, "orchestra_requests_total", **unmatched, status="404") == 1
    # Then the histograms put each in its bucket: 1.2 s is above 1 s, 0.3 s within 0.3 s
    seconds = "orchestra_request_duration_seconds_bucket"
    assert sample(observer, seconds, **labels, le="1.0") == 0
    assert sample(observer, seconds, **labels, le="2.0") == 1
    assert sample(observer, "orchestra_request_duration_seconds_sum", **labels) == 1.2
    ttft = "orchestra_time_to_first_token_seconds_bucket"
    assert sample(observer, ttft, **labels, le="0.2") == 0
    assert sample(observer, ttft, **labels, le="0.3") == 1
    # the buffered request has no time to first token
    assert sample(observer, "orchestra_time_to_first_token_seconds_count", **unmatched) is None


def test_hedges_fusion_guardrails_and_refusals():
    observer = PrometheusObserver()
    observer.hedged("m", won=True, cost_usd=0.01)
    observer.hedged("m", won=False, cost_usd=0.02)
    observer.fused(Fused("vote", 3, 2, 0.5, 0.6, 0.1, 10.0))
    observer.guardrail("injection", "ignore_previous", "flag")
    observer.guardrail("injection", "role_override", "flag")
    observer.refused("budget_exceeded")
    assert sample(observer, "orchestra_hedges_total", model="m", won="true") == 1
    assert sample(observer, "orchestra_hedges_total", model="m", won="false") == 1
    assert sample(observer, "orchestra_hedge_cost_usd_total", model="m") == 0.03
    assert sample(observer, "orchestra_fusions_total", strategy="vote") == 1
    # the rule is not a label: both flags count under one series
    assert (
        sample(observer, "orchestra_guardrail_actions_total", check="injection", action="flag") == 2
    )
    assert sample(observer, "orchestra_policy_refusals_total", code="budget_exceeded") == 1


async def test_breaker_state_is_read_when_scraped():
    # Given a breaker that opens after one failure, watched by the observer
    now = [1000.0]
    breaker = CircuitBreaker(
        MemoryBreakerBackend(),
        BreakerPolicy(failure_threshold=1, cooldown_s=30.0),
        clock=lambda: now[0],
    )
    observer = PrometheusObserver()
    observer.watch(breaker, None)
    observer.attempt("m", None, 1.0)
    assert sample(observer, "orchestra_breaker_state", model="m") == 0
    # When it opens, then its cooldown passes
    await breaker.record_failure("m", Permit(probe=False))
    observer.breaker_opened("m")
    assert sample(observer, "orchestra_breaker_state", model="m") == 2
    assert sample(observer, "orchestra_breaker_opened_total", model="m") == 1
    # When its cooldown has passed and a probe is let through: half-open
    now[0] += 31.0
    probe = await breaker.acquire("m")
    assert probe is not None and probe.probe
    assert sample(observer, "orchestra_breaker_state", model="m") == 1
    # When the probe succeeds: closed again (each scrape reads the breaker's cached view)
    await breaker.record_success("m", probe)
    assert sample(observer, "orchestra_breaker_state", model="m") == 0


def test_cache_outcomes_by_match_and_what_hits_saved():
    from prometheus_client import generate_latest
    from prometheus_client.parser import text_string_to_metric_families

    observer = PrometheusObserver()
    # Given two exact hits, a semantic hit, a stale answer, a miss and a bypass
    observer.cache("hit", "exact", 0.25)
    observer.cache("hit", "exact", 0.5)
    observer.cache("hit", "semantic", 0.125)
    observer.cache("stale", "exact", 1.0)
    observer.cache("miss", None, 0.0)
    observer.cache("bypass", None, 0.0)
    # When /metrics is rendered and parsed as Prometheus reads it
    text = generate_latest(observer.registry).decode()
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name.startswith("orchestra_cache")
    }
    # Then each outcome has its series, and the savings are summed
    requests = "orchestra_cache_requests_total"
    assert samples[(requests, (("match", "exact"), ("outcome", "hit")))] == 2
    assert samples[(requests, (("match", "semantic"), ("outcome", "hit")))] == 1
    assert samples[(requests, (("match", "exact"), ("outcome", "stale")))] == 1
    assert samples[(requests, (("match", "none"), ("outcome", "miss")))] == 1
    assert samples[(requests, (("match", "none"), ("outcome", "bypass")))] == 1
    assert samples[("orchestra_cache_saved_usd_total", ())] == 1.875
