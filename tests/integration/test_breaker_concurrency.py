"""Two Lambda instances (two CircuitBreakers, two clients) sharing one DynamoDB table."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from orchestra.resilience.breaker import BreakerPolicy, CircuitBreaker, Permit
from orchestra.storage.dynamodb import DynamoDBBreakerBackend
from orchestra.storage.protocols import BreakerState
from orchestra.storage.tables import create_tables

TABLE = "orchestra-breakers"
MODEL = "vendor/model-a"
POLICY = BreakerPolicy(failure_threshold=2, window_s=60.0, cooldown_s=30.0, probe_lease_s=10.0)
CLOSED = Permit(probe=False)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


class AtomicClient:
    """A moto client whose calls are serialised, as DynamoDB serialises writes to one item.

    moto checks a condition and writes without a lock, so two threads could in principle
    both pass the check; real DynamoDB cannot. The calls still overlap from asyncio's side:
    both coroutines are in flight, in worker threads, at the same time.
    """

    _lock = threading.Lock()

    def __init__(self, client: Any) -> None:
        self._client = client

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._client, name)

        def call(**kwargs: Any) -> Any:
            with self._lock:
                return method(**kwargs)

        return call


class RecordingBackend(DynamoDBBreakerBackend):
    """Remembers every record it managed to store."""

    def __init__(self, table_name: str, client: Any) -> None:
        super().__init__(table_name, client)
        self.stored: list[BreakerState] = []

    async def put_if_version(self, state: BreakerState, expected_version: int) -> bool:
        won = await super().put_if_version(state, expected_version)
        if won:
            self.stored.append(state)
        return won


@pytest.fixture
def instances() -> Iterator[tuple[FakeClock, list[RecordingBackend], list[CircuitBreaker]]]:
    with mock_aws():
        create_tables(boto3.client("dynamodb", region_name="us-east-1"), {"breakers": TABLE})
        clock = FakeClock()
        backends = [
            RecordingBackend(TABLE, AtomicClient(boto3.client("dynamodb", region_name="us-east-1")))
            for _ in range(2)
        ]
        yield clock, backends, [CircuitBreaker(b, POLICY, clock) for b in backends]


async def stored_state(backend: DynamoDBBreakerBackend) -> BreakerState:
    return (await backend.get_many([MODEL]))[MODEL]


async def test_concurrent_failures_are_all_counted_and_open_once(
    instances: tuple[FakeClock, list[RecordingBackend], list[CircuitBreaker]],
) -> None:
    clock, backends, (a, b) = instances
    # Given both instances have read the (closed) breaker
    await asyncio.gather(a.prefetch([MODEL]), b.prefetch([MODEL]))
    # When each records one failure at the same time from the same cached version
    await asyncio.gather(a.record_failure(MODEL, CLOSED), b.record_failure(MODEL, CLOSED))
    # Then both failures were counted (one write had to re-read) and the breaker is open
    record = await stored_state(backends[0])
    assert (record.state, record.failures, record.opened_at) == ("open", 2, clock.now)
    assert record.version == 2
    # When both record yet more failures concurrently
    clock.now += 1
    await asyncio.gather(*(x.record_failure(MODEL, CLOSED) for x in (a, b, a, b)))
    # Then the breaker opened exactly once across the instances
    writes = [s for backend in backends for s in backend.stored]
    assert [s.state for s in writes].count("open") == 1
    assert (await stored_state(backends[1])).version == 2


async def test_after_cooldown_exactly_one_instance_probes(
    instances: tuple[FakeClock, list[RecordingBackend], list[CircuitBreaker]],
) -> None:
    clock, backends, (a, b) = instances
    # Given a breaker opened by instance A and seen open by instance B
    for _ in range(POLICY.failure_threshold):
        await a.record_failure(MODEL, CLOSED)
    await b.prefetch([MODEL])
    assert b.view(MODEL).state == "open"
    # When the cooldown has passed and both try to acquire at once
    clock.now += POLICY.cooldown_s
    await asyncio.gather(a.prefetch([MODEL]), b.prefetch([MODEL]))
    permits = await asyncio.gather(a.acquire(MODEL), b.acquire(MODEL))
    # Then exactly one gets the probe and the stored record holds its lease
    assert permits.count(Permit(probe=True)) == 1
    assert permits.count(None) == 1
    record = await stored_state(backends[0])
    assert (record.state, record.probe_until) == ("half_open", clock.now + POLICY.probe_lease_s)
    # And the probe's success closes the breaker for the other instance too
    winner = a if permits[0] is not None else b
    loser = b if winner is a else a
    await winner.record_success(MODEL, Permit(probe=True))
    clock.now += POLICY.cache_ttl_s
    await loser.prefetch([MODEL])
    assert await loser.acquire(MODEL) == Permit(probe=False)
