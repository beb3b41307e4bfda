"""Circuit-breaker state machine over the in-memory backend and a fake clock."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

import pytest

from orchestra.errors import StorageError
from orchestra.resilience.breaker import BreakerPolicy, CircuitBreaker, Permit
from orchestra.storage.memory import MemoryBreakerBackend
from orchestra.storage.protocols import BreakerState

POLICY = BreakerPolicy(
    failure_threshold=3, window_s=60.0, cooldown_s=30.0, probe_lease_s=10.0, cache_ttl_s=2.0
)
MODEL = "vendor/model-a"
CLOSED = Permit(probe=False)


class FakeClock:
    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class RaisingBackend:
    """A breaker backend whose storage is down."""

    def __init__(self) -> None:
        self.calls = 0

    async def get_many(self, model_ids: Sequence[str]) -> dict[str, BreakerState]:
        self.calls += 1
        raise StorageError("DynamoDB unreachable")

    async def put_if_version(self, state: BreakerState, expected_version: int) -> bool:
        self.calls += 1
        raise StorageError("DynamoDB unreachable")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def backend() -> MemoryBreakerBackend:
    return MemoryBreakerBackend()


@pytest.fixture
def breaker(backend: MemoryBreakerBackend, clock: FakeClock) -> CircuitBreaker:
    return CircuitBreaker(backend, POLICY, clock)


async def fail(breaker: CircuitBreaker, times: int, model_id: str = MODEL) -> None:
    for _ in range(times):
        await breaker.record_failure(model_id, CLOSED)


async def stored(backend: MemoryBreakerBackend, model_id: str = MODEL) -> BreakerState:
    return (await backend.get_many([model_id]))[model_id]


async def open_breaker(breaker: CircuitBreaker, clock: FakeClock) -> float:
    """Open MODEL's breaker now and return when it opened."""
    await fail(breaker, POLICY.failure_threshold)
    return clock.now


async def test_opens_after_threshold_failures_within_window(
    breaker: CircuitBreaker, backend: MemoryBreakerBackend, clock: FakeClock
) -> None:
    # Given two failures within the window, the breaker still lets calls through
    await fail(breaker, 2)
    assert breaker.view(MODEL).state == "closed"
    assert breaker.view(MODEL).failures == 2
    assert await breaker.acquire(MODEL) == Permit(probe=False)
    # When the third failure arrives
    clock.advance(5)
    await fail(breaker, 1)
    # Then it is open until the cooldown ends, locally and in storage
    view = breaker.view(MODEL)
    assert (view.state, view.available, view.retry_at) == ("open", False, clock.now + 30.0)
    assert await breaker.acquire(MODEL) is None
    record = await stored(backend)
    assert (record.state, record.failures, record.opened_at) == ("open", 3, clock.now)


async def test_failures_outside_the_window_do_not_accumulate(
    breaker: CircuitBreaker, backend: MemoryBreakerBackend, clock: FakeClock
) -> None:
    await fail(breaker, 2)
    clock.advance(POLICY.window_s + 1)
    assert breaker.view(MODEL).failures == 0  # the old window has lapsed
    await fail(breaker, 2)
    assert breaker.view(MODEL).state == "closed"
    assert (await stored(backend)).failures == 2
    assert (await stored(backend)).window_start == clock.now


async def test_open_breaker_rejects_until_cooldown_then_offers_a_probe(
    breaker: CircuitBreaker, clock: FakeClock
) -> None:
    opened_at = await open_breaker(breaker, clock)
    clock.advance(POLICY.cooldown_s - 0.5)
    assert await breaker.acquire(MODEL) is None
    clock.now = opened_at + POLICY.cooldown_s
    assert breaker.view(MODEL).available
    assert await breaker.acquire(MODEL) == Permit(probe=True)
    assert breaker.view(MODEL).state == "half_open"


async def test_exactly_one_probe_across_instances(
    backend: MemoryBreakerBackend, clock: FakeClock
) -> None:
    # Given three instances that all saw the breaker open
    instances = [CircuitBreaker(backend, POLICY, clock) for _ in range(3)]
    await open_breaker(instances[0], clock)
    clock.advance(POLICY.cooldown_s)
    for instance in instances:
        await instance.prefetch([MODEL])
    # When all of them (twice each) try to probe at once
    permits = await asyncio.gather(*(b.acquire(MODEL) for b in instances * 2))
    # Then exactly one probe is granted and the rest are turned away
    assert permits.count(Permit(probe=True)) == 1
    assert permits.count(None) == 5
    # And once the probe's lease expires (its caller vanished) one new probe may start
    clock.advance(POLICY.probe_lease_s - 0.5)
    assert await instances[1].acquire(MODEL) is None
    clock.advance(0.5)
    late = await asyncio.gather(instances[1].acquire(MODEL), instances[2].acquire(MODEL))
    assert list(late) in (
        [Permit(probe=True), None],
        [None, Permit(probe=True)],
    )


async def test_probe_success_closes_the_breaker(
    breaker: CircuitBreaker, backend: MemoryBreakerBackend, clock: FakeClock
) -> None:
    await open_breaker(breaker, clock)
    clock.advance(POLICY.cooldown_s)
    permit = await breaker.acquire(MODEL)
    assert permit == Permit(probe=True)
    await breaker.record_success(MODEL, permit)
    assert breaker.view(MODEL).state == "closed"
    record = await stored(backend)
    assert (record.state, record.failures, record.opened_at, record.probe_until) == (
        "closed",
        0,
        None,
        None,
    )
    assert await breaker.acquire(MODEL) == Permit(probe=False)


async def test_probe_failure_reopens_with_a_fresh_cooldown(
    breaker: CircuitBreaker, backend: MemoryBreakerBackend, clock: FakeClock
) -> None:
    await open_breaker(breaker, clock)
    clock.advance(POLICY.cooldown_s + 3)
    permit = await breaker.acquire(MODEL)
    await breaker.record_failure(MODEL, permit)
    view = breaker.view(MODEL)
    assert (view.state, view.available, view.retry_at) == ("open", False, clock.now + 30.0)
    assert (await stored(backend)).opened_at == clock.now


async def test_late_outcomes_of_ordinary_calls_leave_an_open_breaker_alone(
    breaker: CircuitBreaker, backend: MemoryBreakerBackend, clock: FakeClock
) -> None:
    # Given calls let through while closed that finish after the breaker opened
    opened_at = await open_breaker(breaker, clock)
    version = (await stored(backend)).version
    clock.advance(1)
    # When they report a failure and a success
    await breaker.record_failure(MODEL, CLOSED)
    await breaker.record_success(MODEL, CLOSED)
    # Then nothing is written: the breaker opened once and only a probe may close it
    record = await stored(backend)
    assert (record.state, record.opened_at, record.version) == ("open", opened_at, version)


async def test_closed_success_makes_no_backend_call(
    breaker: CircuitBreaker, backend: MemoryBreakerBackend
) -> None:
    await breaker.prefetch([MODEL])
    before = backend.calls
    permit = await breaker.acquire(MODEL)
    assert permit is not None
    await breaker.record_success(MODEL, permit)
    assert backend.calls == before


async def test_success_after_failures_resets_with_one_write(
    breaker: CircuitBreaker, backend: MemoryBreakerBackend
) -> None:
    await fail(breaker, 2)
    before = backend.calls
    await breaker.record_success(MODEL, CLOSED)
    assert backend.calls == before + 1
    assert (await stored(backend)).failures == 0
    assert breaker.view(MODEL).failures == 0


async def test_stale_cache_conflict_is_re_read_and_counted(
    backend: MemoryBreakerBackend, clock: FakeClock
) -> None:
    # Given instance B cached the breaker before instance A counted two failures
    a, b = CircuitBreaker(backend, POLICY, clock), CircuitBreaker(backend, POLICY, clock)
    await b.prefetch([MODEL])
    await fail(a, 2)
    # When B records a failure from its stale cache
    await fail(b, 1)
    # Then B's write conflicted, re-read, and the third failure opened the breaker
    record = await stored(backend)
    assert (record.state, record.failures) == ("open", 3)
    assert b.view(MODEL).state == "open"


async def test_concurrent_failures_in_one_instance_are_all_counted(
    backend: MemoryBreakerBackend, clock: FakeClock
) -> None:
    breaker = CircuitBreaker(backend, BreakerPolicy(failure_threshold=10), clock)
    await asyncio.gather(*(breaker.record_failure(MODEL, CLOSED) for _ in range(6)))
    assert backend.calls == 6  # serialised in-process: no conflicts, no re-reads
    assert (await stored(backend)).failures == 6


async def test_prefetch_reads_only_stale_entries_in_one_call(
    breaker: CircuitBreaker, backend: MemoryBreakerBackend, clock: FakeClock
) -> None:
    await breaker.prefetch(["a", "b"])
    assert backend.calls == 1
    await breaker.prefetch(["a", "b"])
    assert backend.calls == 1
    clock.advance(POLICY.cache_ttl_s)
    await breaker.prefetch(["a", "b", "c"])
    assert backend.calls == 2


async def test_soonest_retry_picks_the_earliest_cooldown(
    breaker: CircuitBreaker, clock: FakeClock
) -> None:
    assert breaker.soonest_retry(["x", "y", "z"]) is None
    await fail(breaker, 3, "x")
    clock.advance(5)
    await fail(breaker, 3, "y")
    first_open = clock.now - 5
    assert breaker.soonest_retry(["z", "y", "x"]) == ("x", first_open + POLICY.cooldown_s)
    assert breaker.soonest_retry(["z"]) is None


async def test_storage_failure_fails_open(
    clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    # Given a backend whose every call raises StorageError
    backend = RaisingBackend()
    breaker = CircuitBreaker(backend, POLICY, clock)
    with caplog.at_level(logging.WARNING, logger="orchestra.breaker"):
        # When the breaker is read, failures are recorded and a call is requested
        await breaker.prefetch([MODEL])
        await fail(breaker, POLICY.failure_threshold + 1)
        permit = await breaker.acquire(MODEL)
        await breaker.record_success(MODEL, permit)
    # Then nothing raised, the model stays available, and each failure was logged
    assert permit == Permit(probe=False)
    assert breaker.view(MODEL).available
    assert backend.calls == 1 + POLICY.failure_threshold + 1
    warnings = [r for r in caplog.records if r.name == "orchestra.breaker"]
    assert len(warnings) == backend.calls
    assert all(r.levelno == logging.WARNING for r in warnings)


async def test_storage_failure_while_taking_a_probe_fails_open(
    backend: MemoryBreakerBackend, clock: FakeClock
) -> None:
    breaker = CircuitBreaker(backend, POLICY, clock)
    await open_breaker(breaker, clock)
    clock.advance(POLICY.cooldown_s)

    async def down(state: BreakerState, expected_version: int) -> bool:
        raise StorageError("DynamoDB unreachable")

    backend.put_if_version = down  # type: ignore[method-assign]
    assert await breaker.acquire(MODEL) == Permit(probe=True)
