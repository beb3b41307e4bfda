"""One contract for both vector stores: in memory and Amazon S3 Vectors.

moto (5.2) has no QueryVectors, so S3 Vectors is served by :class:`FakeS3Vectors`, a small
stdlib HTTP server on 127.0.0.1 speaking the documented REST-JSON API (``POST /PutVectors``,
``/QueryVectors``, ``/GetVectors``, ``/DeleteVectors``; errors as ``x-amzn-errortype``), and a
real boto3 ``s3vectors`` client is pointed at it: every call goes through botocore's own
serialization, validation and error parsing. Every test taking ``store`` runs on both.
"""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import boto3
import pytest

from orchestra.cache.vectors import MemoryVectorStore
from orchestra.errors import StorageError
from orchestra.storage.s3vectors import S3VectorStore

T0 = 1_700_000_000.0
DIMENSION = 4
BUCKET, INDEX = "orchestra-cache-vectors", "questions"


# -- the fake service ---------------------------------------------------------------------


@dataclass
class FakeIndex:
    dimension: int
    #: key -> (float32 data, metadata)
    vectors: dict[str, tuple[list[float], dict[str, Any]]] = field(default_factory=dict)


class ServiceError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code = status, code


def _matches(metadata: dict[str, Any], condition: dict[str, Any]) -> bool:
    """S3 Vectors' metadata filter: ``$and``/``$or``, and per key ``$eq``/``$ne``/``$gt``/
    ``$gte``/``$lt``/``$lte``/``$in`` (a bare value: ``$eq``)."""
    for name, test in condition.items():
        if name == "$and":
            ok = all(_matches(metadata, part) for part in test)
        elif name == "$or":
            ok = any(_matches(metadata, part) for part in test)
        else:
            ok = _compare(metadata.get(name), test if isinstance(test, dict) else {"$eq": test})
        if not ok:
            return False
    return True


def _compare(value: Any, test: dict[str, Any]) -> bool:
    checks = {
        "$eq": lambda v, x: v == x,
        "$ne": lambda v, x: v != x,
        "$gt": lambda v, x: v is not None and v > x,
        "$gte": lambda v, x: v is not None and v >= x,
        "$lt": lambda v, x: v is not None and v < x,
        "$lte": lambda v, x: v is not None and v <= x,
        "$in": lambda v, x: v in x,
    }
    return all(checks[op](value, operand) for op, operand in test.items())


def _cosine_distance(a: list[float], b: list[float]) -> float:
    dot = math.fsum(x * y for x, y in zip(a, b, strict=True))
    norms = math.sqrt(math.fsum(x * x for x in a)) * math.sqrt(math.fsum(y * y for y in b))
    return 1.0 - dot / norms


class FakeS3Vectors:
    """The four data-plane operations the cache uses, over in-memory indexes."""

    def __init__(self) -> None:
        self.indexes: dict[tuple[str, str], FakeIndex] = {}
        self.requests: list[tuple[str, dict[str, Any]]] = []

    def index(self, body: dict[str, Any]) -> FakeIndex:
        found = self.indexes.get((body.get("vectorBucketName"), body.get("indexName")))
        if found is None:
            raise ServiceError(404, "NotFoundException", "The specified index could not be found")
        return found

    def _data(self, index: FakeIndex, data: dict[str, Any]) -> list[float]:
        values = data.get("float32") or []
        if len(values) != index.dimension:
            raise ServiceError(
                400,
                "ValidationException",
                f"Invalid record for key: dimension {len(values)} != {index.dimension}",
            )
        if not any(values):
            raise ServiceError(400, "ValidationException", "zero vector with cosine metric")
        return [float(x) for x in values]

    def handle(self, operation: str, body: dict[str, Any]) -> dict[str, Any]:
        self.requests.append((operation, body))
        index = self.index(body)
        if operation == "PutVectors":
            for item in body["vectors"]:
                data = self._data(index, item["data"])
                index.vectors[item["key"]] = (data, dict(item.get("metadata") or {}))
            return {}
        if operation == "QueryVectors":
            return self._query(index, body)
        if operation == "GetVectors":
            found = [{"key": k, "metadata": index.vectors[k][1]} for k in body["keys"]]
            return {"vectors": [v for v in found if v["key"] in index.vectors]}
        if operation == "DeleteVectors":
            for key in body["keys"]:
                index.vectors.pop(key, None)
            return {}
        raise ServiceError(404, "UnknownOperationException", operation)

    def _query(self, index: FakeIndex, body: dict[str, Any]) -> dict[str, Any]:
        probe = self._data(index, body["queryVector"])
        condition = body.get("filter") or {}
        ranked = sorted(
            (_cosine_distance(probe, data), key, metadata)
            for key, (data, metadata) in index.vectors.items()
            if _matches(metadata, condition)
        )
        out = []
        for distance, key, metadata in ranked[: body["topK"]]:
            item: dict[str, Any] = {"key": key}
            if body.get("returnDistance"):
                item["distance"] = distance
            if body.get("returnMetadata"):
                item["metadata"] = metadata
            out.append(item)
        return {"vectors": out, "distanceMetric": "cosine"}


def serve(fake: FakeS3Vectors) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])) or b"{}")
            try:
                status, headers, payload = 200, {}, fake.handle(self.path.strip("/"), body)
            except ServiceError as exc:
                status, headers = exc.status, {"x-amzn-errortype": exc.code}
                payload = {"message": str(exc)}
            data = json.dumps(payload).encode()
            self.send_response(status)
            for name, value in {**headers, "Content-Type": "application/json"}.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture(scope="module")
def s3vectors() -> Iterator[tuple[FakeS3Vectors, Any]]:
    """The fake service and a real boto3 client pointed at it."""
    fake = FakeS3Vectors()
    server = serve(fake)
    host, port = server.server_address[:2]
    client = boto3.client(
        "s3vectors",
        region_name="us-east-1",
        endpoint_url=f"http://{host!s}:{port}",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    yield fake, client
    server.shutdown()
    server.server_close()


class FakeClock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@dataclass
class Backend:
    kind: str
    store: MemoryVectorStore | S3VectorStore
    clock: FakeClock
    fake: FakeS3Vectors | None = None


@pytest.fixture(params=["memory", "s3vectors"])
def backend(request: pytest.FixtureRequest, s3vectors: tuple[FakeS3Vectors, Any]) -> Backend:
    clock = FakeClock()
    if request.param == "memory":
        return Backend("memory", MemoryVectorStore(dimension=DIMENSION, clock=clock), clock)
    fake, client = s3vectors
    fake.indexes[(BUCKET, INDEX)] = FakeIndex(DIMENSION)
    fake.requests.clear()
    return Backend("s3vectors", S3VectorStore(BUCKET, INDEX, client, clock=clock), clock, fake)


# -- the contract -------------------------------------------------------------------------

NORTH, EAST = [1.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0]
LATER = int(T0) + 3_600


def near_north(angle_deg: float) -> list[float]:
    """A unit vector ``angle_deg`` degrees from NORTH towards EAST."""
    rad = math.radians(angle_deg)
    return [math.cos(rad), math.sin(rad), 0.0, 0.0]


async def test_a_stored_vector_is_found_with_its_cosine(backend: Backend) -> None:
    await backend.store.put("s1", "k:a:1", near_north(10), LATER)

    found = await backend.store.query("s1", NORTH)

    assert [m.key for m in found] == ["k:a:1"]
    assert found[0].similarity == pytest.approx(math.cos(math.radians(10)), abs=1e-6)


async def test_vectors_need_not_be_unit_length(backend: Backend) -> None:
    await backend.store.put("s1", "k:a:1", [3.0, 0.0, 0.0, 0.0], LATER)

    found = await backend.store.query("s1", [0.5, 0.5, 0.0, 0.0])

    assert found[0].similarity == pytest.approx(math.sqrt(0.5), abs=1e-6)


async def test_a_query_sees_only_its_own_scope(backend: Backend) -> None:
    await backend.store.put("team-a", "k:a:1", NORTH, LATER)
    await backend.store.put("team-b", "k:b:1", NORTH, LATER)

    assert [m.key for m in await backend.store.query("team-a", NORTH)] == ["k:a:1"]
    assert [m.key for m in await backend.store.query("team-b", NORTH)] == ["k:b:1"]
    assert await backend.store.query("team-c", NORTH) == []


async def test_top_k_nearest_come_most_similar_first(backend: Backend) -> None:
    for angle in (40, 5, 80, 20):
        await backend.store.put("s1", f"k:a:{angle}", near_north(angle), LATER)

    found = await backend.store.query("s1", NORTH, top_k=3)

    assert [m.key for m in found] == ["k:a:5", "k:a:20", "k:a:40"]
    assert found[0].similarity > found[1].similarity > found[2].similarity


async def test_orthogonal_and_opposite_vectors_score_zero_and_minus_one(backend: Backend) -> None:
    await backend.store.put("s1", "k:a:east", EAST, LATER)
    await backend.store.put("s1", "k:a:south", [-1.0, 0.0, 0.0, 0.0], LATER)

    found = {m.key: m.similarity for m in await backend.store.query("s1", NORTH)}

    assert found == {
        "k:a:east": pytest.approx(0.0, abs=1e-6),
        "k:a:south": pytest.approx(-1.0, abs=1e-6),
    }


async def test_put_replaces_the_vector_of_the_same_key(backend: Backend) -> None:
    await backend.store.put("s1", "k:a:1", EAST, LATER)
    await backend.store.put("s1", "k:a:1", NORTH, LATER)

    found = await backend.store.query("s1", NORTH)

    assert [(m.key, round(m.similarity, 5)) for m in found] == [("k:a:1", 1.0)]


async def test_an_expired_vector_is_never_returned(backend: Backend) -> None:
    """Given one vector expiring at T0+10 and one an hour later."""
    await backend.store.put("s1", "k:a:short", NORTH, int(T0) + 10)
    await backend.store.put("s1", "k:a:long", near_north(30), LATER)
    assert [m.key for m in await backend.store.query("s1", NORTH)] == ["k:a:short", "k:a:long"]

    backend.clock.now = T0 + 10  # expires_at is the first second it is gone

    assert [m.key for m in await backend.store.query("s1", NORTH)] == ["k:a:long"]


async def test_expired_vectors_do_not_take_the_places_of_live_ones(backend: Backend) -> None:
    for i in range(3):
        await backend.store.put("s1", f"k:a:old{i}", NORTH, int(T0) + 10)
    await backend.store.put("s1", "k:a:live", near_north(45), LATER)
    backend.clock.now = T0 + 60

    assert [m.key for m in await backend.store.query("s1", NORTH, top_k=1)] == ["k:a:live"]


async def test_delete_removes_the_vector_and_is_idempotent(backend: Backend) -> None:
    await backend.store.put("s1", "k:a:1", NORTH, LATER)
    await backend.store.put("s1", "k:a:2", EAST, LATER)

    await backend.store.delete("s1", "k:a:1")
    await backend.store.delete("s1", "k:a:1")
    await backend.store.delete("s1", "k:a:never")

    assert [m.key for m in await backend.store.query("s1", NORTH)] == ["k:a:2"]


async def test_a_vector_of_another_dimension_is_a_storage_error(backend: Backend) -> None:
    await backend.store.put("s1", "k:a:1", NORTH, LATER)

    with pytest.raises(StorageError):
        await backend.store.put("s1", "k:a:2", [1.0, 0.0, 0.0], LATER)
    with pytest.raises(StorageError):
        await backend.store.query("s1", [1.0, 0.0, 0.0])
    assert [m.key for m in await backend.store.query("s1", NORTH)] == ["k:a:1"]


async def test_a_zero_vector_is_a_storage_error(backend: Backend) -> None:
    with pytest.raises(StorageError):
        await backend.store.put("s1", "k:a:1", [0.0] * DIMENSION, LATER)


# -- S3 Vectors only: what goes over the wire ---------------------------------------------


async def test_s3_requests_carry_scope_expiry_float32_and_the_filter(
    s3vectors: tuple[FakeS3Vectors, Any],
) -> None:
    fake, client = s3vectors
    fake.indexes[(BUCKET, INDEX)] = FakeIndex(DIMENSION)
    fake.requests.clear()
    store = S3VectorStore(BUCKET, INDEX, client, clock=FakeClock())

    await store.put("scope-1", "k:a:1", NORTH, LATER)
    await store.query("scope-1", NORTH, top_k=500)
    await store.delete("scope-1", "k:a:1")

    (put_op, put), (query_op, query), (delete_op, delete) = fake.requests
    assert (put_op, query_op, delete_op) == ("PutVectors", "QueryVectors", "DeleteVectors")
    assert put["vectors"] == [
        {
            "key": "k:a:1",
            "data": {"float32": NORTH},
            "metadata": {"scope": "scope-1", "expires_at": LATER},
        }
    ]
    assert query["filter"] == {
        "$and": [{"scope": {"$eq": "scope-1"}}, {"expires_at": {"$gt": int(T0)}}]
    }
    assert query["topK"] == 100  # the service's maximum
    assert query["returnDistance"] is True
    assert (put["vectorBucketName"], put["indexName"]) == (BUCKET, INDEX)
    assert delete["keys"] == ["k:a:1"]
    assert store.calls == 3


async def test_s3_a_missing_index_is_a_storage_error_naming_the_code(
    s3vectors: tuple[FakeS3Vectors, Any],
) -> None:
    _, client = s3vectors
    store = S3VectorStore(BUCKET, "no-such-index", client)

    with pytest.raises(StorageError, match="NotFoundException"):
        await store.query("s1", NORTH)


class StubClient:
    """A client whose QueryVectors ignores the filter (the store must not trust it)."""

    def query_vectors(self, **kwargs: Any) -> dict[str, Any]:
        return {
            "distanceMetric": "cosine",
            "vectors": [
                {"key": "other", "distance": 0.0, "metadata": {"scope": "s2", "expires_at": LATER}},
                {"key": "old", "distance": 0.0, "metadata": {"scope": "s1", "expires_at": 5}},
                {"key": "bare", "distance": 0.0},
                {"key": "mine", "distance": 0.25, "metadata": {"scope": "s1", "expires_at": LATER}},
            ],
        }


async def test_s3_results_of_another_scope_or_expired_are_dropped() -> None:
    store = S3VectorStore(BUCKET, INDEX, StubClient(), clock=FakeClock())

    found = await store.query("s1", NORTH)

    assert [(m.key, m.similarity) for m in found] == [("mine", 0.75)]
