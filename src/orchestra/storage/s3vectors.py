"""The semantic cache's vectors on Amazon S3 Vectors (the deployed :class:`VectorStore`).

One vector index (cosine distance, float32, the embedding model's dimension) holds every
scope's vectors; each vector carries ``{"scope": ..., "expires_at": ...}`` as filterable
metadata, and a query filters on both, so it only ever sees its own scope's live vectors.
S3 Vectors has no TTL: an expired vector stays (a fraction of a cent a month per GB) until
the same question overwrites it (its key is the answer's cache key) or it is deleted; a
query never returns it. S3 Vectors reports the cosine *distance*: similarity is ``1 -
distance``.

boto3 is imported only when the first call needs a client (cold start); blocking calls run
in a worker thread (``asyncio.to_thread``), and failures are :class:`StorageError` naming the
operation and the service's error code (the semantic index turns them into a miss).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from typing import Any

from orchestra.cache.protocols import VectorMatch
from orchestra.errors import StorageError

#: QueryVectors returns at most this many results
MAX_TOP_K = 100


def _error(exc: Exception, operation: str, index: str) -> Exception:
    from botocore.exceptions import BotoCoreError, ClientError

    if isinstance(exc, ClientError):
        code = exc.response.get("Error", {}).get("Code", "Unknown")
        return StorageError(f"S3 Vectors {operation} on {index} failed: {code}")
    if isinstance(exc, BotoCoreError):
        return StorageError(f"S3 Vectors {operation} on {index} failed: {type(exc).__name__}")
    return exc


class S3VectorStore:
    """Vectors in the index ``index`` of the vector bucket ``bucket``."""

    def __init__(
        self,
        bucket: str,
        index: str,
        client: Any = None,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.bucket = bucket
        self.index = index
        #: API round trips made (the benches and tests count them)
        self.calls = 0
        self._client = client
        self._clock = clock

    @property
    def client(self) -> Any:
        if self._client is None:
            import boto3

            self._client = boto3.client("s3vectors")
        return self._client

    async def _call(self, operation: str, **kwargs: Any) -> dict[str, Any]:
        method = getattr(self.client, operation)
        self.calls += 1
        try:
            response: dict[str, Any] = await asyncio.to_thread(
                method, vectorBucketName=self.bucket, indexName=self.index, **kwargs
            )
        except Exception as exc:
            mapped = _error(exc, operation, self.index)
            if mapped is exc:
                raise
            raise mapped from exc
        return response

    async def put(self, scope: str, key: str, vector: Sequence[float], expires_at: int) -> None:
        """PutVectors: one vector, replacing any of the same key."""
        item = {
            "key": key,
            "data": {"float32": [float(x) for x in vector]},
            "metadata": {"scope": scope, "expires_at": int(expires_at)},
        }
        await self._call("put_vectors", vectors=[item])

    async def query(self, scope: str, vector: Sequence[float], top_k: int = 3) -> list[VectorMatch]:
        """QueryVectors within ``scope``'s live vectors, most similar first."""
        if top_k < 1:
            return []
        now = self._clock()
        response = await self._call(
            "query_vectors",
            topK=min(top_k, MAX_TOP_K),
            queryVector={"float32": [float(x) for x in vector]},
            filter={"$and": [{"scope": {"$eq": scope}}, {"expires_at": {"$gt": int(now)}}]},
            returnDistance=True,
            returnMetadata=True,
        )
        found = []
        for item in response.get("vectors", []):
            metadata = item.get("metadata") or {}
            if metadata.get("scope") != scope or _number(metadata.get("expires_at")) <= now:
                continue  # the filter should have left it out: never trust it with a tenant
            found.append(VectorMatch(item["key"], 1.0 - float(item.get("distance", 1.0))))
        found.sort(key=lambda match: (-match.similarity, match.key))
        return found

    async def delete(self, scope: str, key: str) -> None:
        """DeleteVectors (keys are answer keys: unique across scopes)."""
        await self._call("delete_vectors", keys=[key])


def _number(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return 0.0
