"""Breakers across instances: the soonest retry, and a probe race lost to a peer that closed it."""

from __future__ import annotations

from orchestra.resilience.breaker import BreakerPolicy, CircuitBreaker
from orchestra.storage.memory import MemoryBreakerBackend


async def test_the_soonest_retry_is_the_earliest_cooldown_not_the_first_name() -> None:
    now = [1_000.0]
    opened: list[str] = []
    breaker = CircuitBreaker(
        MemoryBreakerBackend(),
        BreakerPolicy(failure_threshold=1, cooldown_s=30),
        clock=lambda: now[0],
        on_open=opened.append,
    )
    await breaker.record_failure("z/opened-first")  # retry at 1030
    now[0] = 1_010.0
    await breaker.record_failure("a/opened-later")  # retry at 1040
    assert opened == ["z/opened-first", "a/opened-later"]
    assert breaker.soonest_retry(["a/opened-later", "z/opened-first", "m/closed"]) == (
        "z/opened-first",
        1_030.0,
    )
    assert breaker.soonest_retry(["m/closed"]) is None


async def test_an_instance_that_loses_the_probe_race_to_a_closing_peer_calls_normally() -> None:
    # Given two instances sharing the store; A saw the breaker open
    now = [0.0]
    backend = MemoryBreakerBackend()
    policy = BreakerPolicy(failure_threshold=1, cooldown_s=30)
    a = CircuitBreaker(backend, policy, clock=lambda: now[0])
    b = CircuitBreaker(backend, policy, clock=lambda: now[0])
    await a.record_failure("p/m")
    await b.prefetch(["p/m"])
    # When B probes after the cooldown and closes it, then A (still caching "open") acquires
    now[0] = 31.0
    probe = await b.acquire("p/m")
    assert probe is not None and probe.probe
    await b.record_success("p/m", probe)
    permit = await a.acquire("p/m")
    # Then A's lease write loses, it re-reads the closed breaker and calls as usual
    assert permit is not None and not permit.probe
    assert a.view("p/m").state == "closed"
