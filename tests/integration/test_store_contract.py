"""One contract for both storage backends: in-memory and DynamoDB (under moto).

Every test taking the ``stores`` fixture runs once per backend, so the two cannot drift.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

import boto3
import pytest
from moto import mock_aws

from orchestra.errors import StorageError
from orchestra.resilience.breaker import BreakerPolicy, CircuitBreaker, Permit
from orchestra.storage.dynamodb import (
    DynamoDBBreakerBackend,
    DynamoDBCatalogBackend,
    DynamoDBMetricsBackend,
)
from orchestra.storage.memory import (
    MemoryBreakerBackend,
    MemoryCatalogBackend,
    MemoryMetricsBackend,
)
from orchestra.storage.model_stats import MetricsRecorder, bucket_key
from orchestra.storage.protocols import BreakerState
from orchestra.storage.tables import ALL_TABLES, METRICS_TABLE, create_tables

NAMES = {spec.key: f"test-{spec.key}" for spec in ALL_TABLES}
T0 = 1_700_000_000.0


@dataclass
class Stores:
    kind: str
    breakers: MemoryBreakerBackend | DynamoDBBreakerBackend
    catalog: MemoryCatalogBackend | DynamoDBCatalogBackend
    metrics: MemoryMetricsBackend | DynamoDBMetricsBackend
    client: Any = None


class FakeClock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture(params=["memory", "dynamodb"])
def stores(request: pytest.FixtureRequest) -> Iterator[Stores]:
    if request.param == "memory":
        yield Stores(
            "memory", MemoryBreakerBackend(), MemoryCatalogBackend(), MemoryMetricsBackend()
        )
        return
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        create_tables(client, NAMES)
        yield Stores(
            "dynamodb",
            DynamoDBBreakerBackend(NAMES["breakers"], client),
            DynamoDBCatalogBackend(NAMES["models"], client, page_size=2),
            DynamoDBMetricsBackend(NAMES["metrics"], client),
            client,
        )


# --- breaker records ----------------------------------------------------------------------


async def test_put_if_version_is_a_compare_and_set(stores: Stores) -> None:
    backend = stores.breakers
    record = BreakerState("m", "open", 5, T0 - 10.25, opened_at=T0 + 0.125, probe_until=None)
    # A missing record can be created only with expected version 0
    assert await backend.put_if_version(record, 3) is False
    assert await backend.put_if_version(record, 0) is True
    assert await backend.put_if_version(record, 0) is False
    # Then each write must name the stored version, and bumps it by one
    half_open = BreakerState("m", "half_open", 5, T0 - 10.25, T0 + 0.125, T0 + 30.5)
    assert await backend.put_if_version(half_open, 1) is True
    assert await backend.put_if_version(record, 1) is False
    assert await backend.get_many(["m"]) == {"m": replace(half_open, version=2)}


async def test_get_many_of_none_one_and_many(stores: Stores) -> None:
    backend = stores.breakers
    assert await backend.get_many([]) == {}
    assert backend.calls == 0
    ids = [f"vendor/model-{i:03d}" for i in range(150)]
    for i, model_id in enumerate(ids):
        assert await backend.put_if_version(BreakerState(model_id, failures=i % 5), 0)

    before = backend.calls
    one = await backend.get_many([ids[7], "never-stored"])
    assert backend.calls == before + 1
    assert one == {ids[7]: BreakerState(ids[7], failures=2, version=1)}

    before = backend.calls
    many = await backend.get_many([*ids, ids[0], "never-stored"])
    assert set(many) == set(ids)
    assert all(many[m].failures == i % 5 for i, m in enumerate(ids))
    assert backend.calls - before == (2 if stores.kind == "dynamodb" else 1)  # 100 keys a batch


# --- catalog ------------------------------------------------------------------------------


async def test_catalog_numbers_round_trip(stores: Stores) -> None:
    fields = {
        "input_price": 0.15,
        "output_price": 1e-7,
        "quality": 1234.5678901234,
        "context_window": 128_000,
        "whole_float": 3.0,
        "sources": {"lmarena": {"score": 0.873, "at": T0 + 0.5}},
        "tags": ["fast", 0.25, 2],
        "free": False,
        "note": None,
    }
    await stores.catalog.upsert("vendor/a", fields)
    assert await stores.catalog.load_all() == [{"model_id": "vendor/a", **fields}]
    loaded = (await stores.catalog.load_all())[0]
    assert isinstance(loaded["input_price"], float)
    assert isinstance(loaded["context_window"], int)
    assert isinstance(loaded["whole_float"], int)  # DynamoDB keeps no float/int distinction


async def test_catalog_upsert_merges_fields(stores: Stores) -> None:
    await stores.catalog.upsert("vendor/a", {"name": "A", "quality": 0.5})
    await stores.catalog.upsert("vendor/a", {"quality": 0.75, "model_id": "vendor/a"})
    await stores.catalog.upsert("vendor/b", {})
    await stores.catalog.upsert("vendor/b", {})
    items = sorted(await stores.catalog.load_all(), key=lambda item: item["model_id"])
    assert items == [
        {"model_id": "vendor/a", "name": "A", "quality": 0.75},
        {"model_id": "vendor/b"},
    ]
    with pytest.raises(ValueError, match="model_id"):
        await stores.catalog.upsert("vendor/a", {"model_id": "vendor/other"})


async def test_catalog_load_all_reads_every_page(stores: Stores) -> None:
    ids = {f"vendor/m{i}" for i in range(7)}
    for model_id in ids:
        await stores.catalog.upsert(model_id, {"quality": 0.1})
    before = stores.catalog.calls
    assert {item["model_id"] for item in await stores.catalog.load_all()} == ids
    if stores.kind == "dynamodb":  # page_size=2: at least four Scan pages
        assert stores.catalog.calls - before >= 4


# --- metrics ------------------------------------------------------------------------------


async def test_metrics_add_accumulates_and_sets_ttl(stores: Stores) -> None:
    metrics = stores.metrics
    await metrics.add("m", "2024-01-01T00:01:00Z", {"count": 1, "cost_usd": 0.1}, 111)
    await metrics.add("m", "2024-01-01T00:01:00Z", {"count": 2, "cost_usd": 0.2, "errors": 1}, 222)
    await metrics.add("m", "2024-01-01T00:00:00Z", {"count": 5}, 100)
    await metrics.add("m", "2024-01-01T00:02:00Z", {}, 333)
    await metrics.add("other", "2024-01-01T00:01:00Z", {"count": 9}, 100)

    rows = await metrics.query("m", "2024-01-01T00:01:00Z")
    assert [row["bucket"] for row in rows] == ["2024-01-01T00:01:00Z", "2024-01-01T00:02:00Z"]
    assert rows[0]["model_id"] == "m"
    assert rows[0]["count"] == 3
    assert rows[0]["errors"] == 1
    assert rows[0]["cost_usd"] == pytest.approx(0.3)
    assert rows[0]["expires_at"] == 222
    assert rows[1] == {"model_id": "m", "bucket": "2024-01-01T00:02:00Z", "expires_at": 333}
    with pytest.raises(ValueError, match="reserved"):
        await metrics.add("m", "2024-01-01T00:01:00Z", {"expires_at": 1}, 1)


async def test_metrics_ttl_attribute_is_the_tables_ttl(stores: Stores) -> None:
    await stores.metrics.add("m", "b", {"count": 1}, 1_700_600_000)
    if stores.kind == "memory":
        assert (await stores.metrics.query("m", "b"))[0]["expires_at"] == 1_700_600_000
        return
    ttl = stores.client.describe_time_to_live(TableName=NAMES["metrics"])
    assert ttl["TimeToLiveDescription"]["TimeToLiveStatus"] == "ENABLED"
    assert ttl["TimeToLiveDescription"]["AttributeName"] == METRICS_TABLE.ttl_attribute
    raw = stores.client.get_item(
        TableName=NAMES["metrics"], Key={"pk": {"S": "m"}, "sk": {"S": "b"}}
    )
    assert raw["Item"]["expires_at"] == {"N": "1700600000"}


async def test_recorder_flushes_one_add_per_model_and_bucket(stores: Stores) -> None:
    clock = FakeClock(T0)
    recorder = MetricsRecorder(stores.metrics, bucket_s=60, retention_days=7, clock=clock)
    common: dict[str, Any] = {"prompt_tokens": 10, "completion_tokens": 5, "cost_usd": 0.001}
    recorder.record("a", latency_ms=40.0, error=False, **common)
    recorder.record("a", latency_ms=700.0, error=True, **common)
    recorder.record("b", latency_ms=9000.0, error=False, **common)
    clock.now += 60  # next bucket
    recorder.record("a", latency_ms=120.0, error=False, **common)
    await recorder.flush()
    await recorder.flush()  # nothing pending: no further writes

    assert stores.metrics.calls == 3
    rows = await stores.metrics.query("a", bucket_key(T0, 60))
    assert len(rows) == 2
    first = rows[0]
    assert (first["count"], first["errors"], first["latency_ms_sum"]) == (2, 1, 740)
    assert (first["prompt_tokens"], first["completion_tokens"]) == (20, 10)
    assert first["cost_usd"] == pytest.approx(0.002)
    assert (first["lat_le_50"], first["lat_le_1000"]) == (1, 1)
    bucket_start = int(T0 // 60) * 60
    assert first["expires_at"] == bucket_start + 60 + 7 * 86_400
    assert (await stores.metrics.query("b", ""))[0]["lat_le_inf"] == 1


async def test_recorder_keeps_counters_when_a_flush_fails() -> None:
    clock = FakeClock(T0)
    backend = MemoryMetricsBackend()
    recorder = MetricsRecorder(backend, flush_interval_s=10, clock=clock)
    recorder.record(
        "a", latency_ms=1, prompt_tokens=1, completion_tokens=1, cost_usd=0, error=False
    )
    real_add = backend.add

    async def down(*args: Any, **kwargs: Any) -> None:
        raise StorageError("DynamoDB unreachable")

    backend.add = down  # type: ignore[method-assign]
    await recorder.flush()
    backend.add = real_add  # type: ignore[method-assign]
    recorder.record(
        "a", latency_ms=1, prompt_tokens=1, completion_tokens=1, cost_usd=0, error=False
    )
    await recorder.flush()
    assert (await backend.query("a", ""))[0]["count"] == 2


def test_recorder_latency_average_and_flush_schedule() -> None:
    clock = FakeClock(T0)
    recorder = MetricsRecorder(MemoryMetricsBackend(), flush_interval_s=10, clock=clock)
    assert recorder.observed_latency_ms("a") is None
    recorder.record(
        "a", latency_ms=100, prompt_tokens=0, completion_tokens=0, cost_usd=0, error=False
    )
    recorder.record(
        "a", latency_ms=200, prompt_tokens=0, completion_tokens=0, cost_usd=0, error=False
    )
    recorder.record("a", latency_ms=5, prompt_tokens=0, completion_tokens=0, cost_usd=0, error=True)
    assert recorder.observed_latency_ms("a") == pytest.approx(120.0)  # errors do not count
    assert not recorder.due()
    clock.now += 10
    assert recorder.due()


# --- the breaker over each backend ---------------------------------------------------------


async def test_breaker_lifecycle(stores: Stores) -> None:
    clock = FakeClock()
    policy = BreakerPolicy(failure_threshold=2, cooldown_s=30.0, probe_lease_s=10.0)
    breaker = CircuitBreaker(stores.breakers, policy, clock)
    other = CircuitBreaker(stores.breakers, policy, clock)
    # Given a model that fails twice
    await breaker.prefetch(["m"])
    for _ in range(2):
        await breaker.record_failure("m", await breaker.acquire("m"))
    # Then it is open for every instance, until the cooldown ends
    await other.prefetch(["m"])
    assert other.view("m").state == "open"
    assert await other.acquire("m") is None
    clock.now += 30.0
    # When both instances ask, only one probes; its success closes the breaker everywhere
    first, second = await breaker.acquire("m"), await other.acquire("m")
    assert (first, second) == (Permit(probe=True), None)
    await breaker.record_success("m", first)
    clock.now += policy.cache_ttl_s
    await other.prefetch(["m"])
    assert other.view("m").state == "closed"
    assert await other.acquire("m") == Permit(probe=False)


async def test_hot_path_round_trips(stores: Stores) -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(stores.breakers, BreakerPolicy(cache_ttl_s=2.0), clock)
    models = ["a", "b", "c"]
    await breaker.prefetch(models)
    clock.now += 1.9
    await breaker.prefetch(models)
    for model_id in models:
        await breaker.record_success(model_id, await breaker.acquire(model_id))
    assert stores.breakers.calls == 1
    clock.now += 0.1
    await breaker.prefetch(models)
    assert stores.breakers.calls == 2


# --- DynamoDB specifics -----------------------------------------------------------------------


class HalfUnprocessed:
    """A client that leaves half the keys of the first BatchGetItem unprocessed."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.batches = 0

    def batch_get_item(self, RequestItems: dict[str, Any]) -> dict[str, Any]:
        self.batches += 1
        if self.batches > 1:
            return dict(self._client.batch_get_item(RequestItems=RequestItems))
        ((table, request),) = RequestItems.items()
        keys = request["Keys"]
        half = len(keys) // 2
        response = dict(self._client.batch_get_item(RequestItems={table: {"Keys": keys[:half]}}))
        response["UnprocessedKeys"] = {table: {**request, "Keys": keys[half:]}}
        return response


def test_create_tables_rejects_unknown_keys() -> None:
    with pytest.raises(KeyError, match="nope"):
        create_tables(object(), {"nope": "x"})  # type: ignore[arg-type]


@pytest.fixture
def moto_client() -> Iterator[Any]:
    with mock_aws():
        yield boto3.client("dynamodb", region_name="us-east-1")


async def test_get_many_retries_unprocessed_keys(moto_client: Any) -> None:
    create_tables(moto_client, {"breakers": "b"})
    writer = DynamoDBBreakerBackend("b", moto_client)
    for model_id in ("a", "b", "c", "d"):
        await writer.put_if_version(BreakerState(model_id), 0)
    flaky = HalfUnprocessed(moto_client)
    reader = DynamoDBBreakerBackend("b", flaky)  # type: ignore[arg-type]
    assert set(await reader.get_many(["a", "b", "c", "d"])) == {"a", "b", "c", "d"}
    assert reader.calls == flaky.batches == 2


async def test_dynamodb_failures_become_storage_errors(moto_client: Any) -> None:
    backend = DynamoDBBreakerBackend("no-such-table", moto_client)
    with pytest.raises(StorageError) as caught:
        await backend.put_if_version(BreakerState("m"), 0)
    assert caught.value.__cause__ is not None
    with pytest.raises(StorageError):
        await backend.get_many(["m"])


async def test_backend_creates_its_client_lazily(moto_client: Any) -> None:
    create_tables(moto_client, {"models": "lazy-models"})
    backend = DynamoDBCatalogBackend("lazy-models")
    await backend.upsert("vendor/a", {"quality": 0.5})
    assert await backend.load_all() == [{"model_id": "vendor/a", "quality": 0.5}]


def test_storage_modules_do_not_import_boto3() -> None:
    # Cold start: boto3/botocore load only when a DynamoDB backend first makes a call
    code = (
        "import sys\n"
        "import orchestra.storage.tables, orchestra.storage.protocols, orchestra.storage.memory\n"
        "import orchestra.storage.dynamodb, orchestra.storage.model_stats\n"
        "import orchestra.resilience.breaker\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('boto3', 'botocore')))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "[]"
