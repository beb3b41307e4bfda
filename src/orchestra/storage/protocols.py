"""The small storage protocols the logic depends on, and the records they carry.

Each protocol has an in-memory implementation (``storage.memory``) and a DynamoDB one
(``storage.dynamodb``); one contract test module holds both to the same behaviour.
Every backend also exposes ``calls``: the number of storage round trips made so far.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

BreakerStateName = Literal["closed", "open", "half_open"]


@dataclass(frozen=True)
class BreakerState:
    """One model's circuit-breaker record, as stored.

    ``version`` is 0 for a record that has never been stored; every successful
    ``put_if_version`` stores ``expected_version + 1``.
    """

    model_id: str
    state: BreakerStateName = "closed"
    #: failures counted in the current window
    failures: int = 0
    #: epoch seconds at which the current failure window started
    window_start: float = 0.0
    opened_at: float | None = None
    #: expiry of the half-open probe lease (epoch seconds)
    probe_until: float | None = None
    version: int = 0


class BreakerBackend(Protocol):
    """Breaker records, read in one batch and written with optimistic concurrency."""

    async def get_many(self, model_ids: Sequence[str]) -> dict[str, BreakerState]:
        """Stored records for ``model_ids`` in one round trip; missing models are absent."""
        ...

    async def put_if_version(self, state: BreakerState, expected_version: int) -> bool:
        """Store ``state`` with version ``expected_version + 1`` if the stored version is
        ``expected_version`` (0: the record must not exist). False on a version conflict;
        ``StorageError`` on any other failure."""
        ...


class CatalogBackend(Protocol):
    """Model metadata keyed by model id. Numbers come back as ``int`` when integral,
    ``float`` otherwise (the DynamoDB number round trip), at any nesting depth."""

    async def load_all(self) -> list[dict[str, Any]]:
        """Every stored model, each dict including its ``model_id``."""
        ...

    async def upsert(self, model_id: str, fields: dict[str, Any]) -> None:
        """Create the model if needed and set ``fields`` on it (other fields are kept)."""
        ...


class MetricsBackend(Protocol):
    """Per-model, per-time-bucket counters with atomic addition and a TTL."""

    async def add(
        self, model_id: str, bucket: str, counters: dict[str, float], expires_at: int
    ) -> None:
        """Atomically add ``counters`` to the (model, bucket) item and set its TTL."""
        ...

    async def query(self, model_id: str, since_bucket: str) -> list[dict[str, Any]]:
        """Items of ``model_id`` with bucket >= ``since_bucket``, oldest first; each dict has
        ``model_id``, ``bucket``, ``expires_at`` and the counters."""
        ...


def plain_numbers(value: Any) -> Any:
    """``value`` with integral floats turned into ints, recursively: the number contract
    of ``CatalogBackend`` (DynamoDB stores numbers without a float/int distinction)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {key: plain_numbers(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [plain_numbers(item) for item in value]
    return value


def check_catalog_fields(model_id: str, fields: dict[str, Any]) -> None:
    """The key cannot change through ``CatalogBackend.upsert``: reject a different
    ``model_id`` in ``fields`` with ``ValueError`` (the same one is allowed and ignored)."""
    if fields.get("model_id", model_id) != model_id:
        raise ValueError(f"fields carry model_id {fields['model_id']!r}, expected {model_id!r}")


#: names a metrics counter may not take: they are the item's key, TTL or query row fields
RESERVED_COUNTER_NAMES = frozenset({"model_id", "bucket", "expires_at", "pk", "sk"})


def check_counter_names(counters: dict[str, float]) -> None:
    """Reject counters that would clash with key, TTL or row fields (``ValueError``)."""
    clash = RESERVED_COUNTER_NAMES & counters.keys()
    if clash:
        raise ValueError(f"reserved counter names: {sorted(clash)}")


class DebateBackend(Protocol):
    """Debate records: one JSON document per (debate id, sort key), read a debate at a time."""

    async def put_new(self, debate_id: str, sort_key: str, doc: str, expires_at: int) -> bool:
        """Store the document unless one exists under that key: False if it does."""
        ...

    async def put(self, debate_id: str, sort_key: str, doc: str, expires_at: int) -> None:
        """Store (or replace) the document."""
        ...

    async def load(self, debate_id: str) -> dict[str, str]:
        """Every document of the debate by sort key, in one query (paginated if large)."""
        ...


class ResponseBackend(Protocol):
    """Stored OpenAI Responses answers (``previous_response_id``): one JSON document per
    response id, kept until ``expires_at`` (epoch seconds); an expired one is not found."""

    async def put(self, response_id: str, doc: str, expires_at: int) -> None:
        """Store (or replace) the document."""
        ...

    async def get(self, response_id: str) -> str | None:
        """The document, or None when it was never stored or has expired."""
        ...


class RecordBackend(Protocol):
    """Workflow records (chains, chain runs, files, batches): JSON documents under
    (partition, sort key), atomic counters beside them, and pages of a listing partition.

    ``expires_at`` (epoch seconds) or None for a record kept until deleted (a chain's
    versions). Reads are consistent: a step reads what the step before it wrote.
    """

    async def put_new(self, pk: str, sk: str, doc: str, expires_at: int | None) -> bool:
        """Store the document unless one exists under that key: False if it does."""
        ...

    async def put(self, pk: str, sk: str, doc: str, expires_at: int | None) -> None:
        """Store (or replace) the document."""
        ...

    async def get(self, pk: str, sk: str) -> str | None:
        """One document, or None."""
        ...

    async def load(self, pk: str) -> dict[str, str]:
        """Every document of the partition by sort key, in one query (paginated if large);
        counter items are left out."""
        ...

    async def add(
        self, pk: str, sk: str, counters: dict[str, int], expires_at: int | None
    ) -> dict[str, int]:
        """Atomically add ``counters`` to the item (created at 0 when missing) and return
        every counter of the item after the addition."""
        ...

    async def counters(self, pk: str, sk: str) -> dict[str, int]:
        """The item's counters ({} when it has none)."""
        ...

    async def page(
        self, pk: str, *, after: str | None = None, limit: int = 20, descending: bool = True
    ) -> list[tuple[str, str]]:
        """Up to ``limit`` (sort key, document) pairs of the partition, in sort-key order
        (newest first when ``descending``), starting after the sort key ``after``."""
        ...

    async def delete(self, pk: str, sk: str) -> None:
        """Remove the item (nothing when it is absent)."""
        ...


class BlobStore(Protocol):
    """Whole files by key (batch input, output and error files, chunk manifests): S3
    deployed (``storage.blobs.S3BlobStore``), memory locally (``MemoryBlobStore``)."""

    async def put(self, key: str, data: bytes, content_type: str = "application/jsonl") -> None:
        """Store (or replace) the object."""
        ...

    async def get(self, key: str, start: int | None = None, end: int | None = None) -> bytes:
        """The object's bytes (``start``..``end`` exclusive when given: one ranged read);
        ``KeyError`` when there is no such object."""
        ...

    async def size(self, key: str) -> int | None:
        """The object's size in bytes, or None when there is no such object."""
        ...

    async def concat(self, key: str, parts: Sequence[str], content_type: str) -> int:
        """Write the object ``key`` as the parts' bytes in order (missing parts are skipped),
        in bounded memory; its size in bytes."""
        ...

    async def delete(self, keys: Sequence[str]) -> None:
        """Remove the objects (absent ones are ignored)."""
        ...

    async def link(self, key: str, expires_s: int) -> str | None:
        """A URL that GETs the object without our credentials for ``expires_s`` seconds
        (S3: presigned), or None when the store can only serve the bytes itself (memory).
        Lets a download too large for a Lambda response go straight to the store."""
        ...


#: attributes of a workflow record item that are not counters (key, document, TTL)
RECORD_FIELDS = frozenset({"pk", "sk", "doc", "expires_at"})


def check_record_counters(counters: dict[str, int]) -> None:
    """Reject ``RecordBackend.add`` counters named like the item's key, document or TTL
    (``ValueError``): adding to them would corrupt the record."""
    clash = (RECORD_FIELDS | RESERVED_COUNTER_NAMES) & counters.keys()
    if clash:
        raise ValueError(f"reserved counter names: {sorted(clash)}")
