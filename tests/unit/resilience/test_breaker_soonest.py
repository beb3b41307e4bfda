"""Which open breaker may be retried first: the earliest cooldown, whatever the model's name."""

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
