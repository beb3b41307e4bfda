"""The vector store in memory: ``orchestra serve`` and the tests (the deployed one is
``storage/s3vectors.py``, held to the same contract test).

Vectors are kept per scope, so a query only ever compares its own scope's vectors (a
linear scan: a scope holds the paraphrases of one conversation prefix, a handful). The
whole store is bounded by ``max_vectors``: past it, the vector stored longest ago goes.
Similarity is the cosine: every vector is normalised when stored, so a query is a dot
product. The first vector fixes the store's dimension, as an S3 Vectors index's is fixed
when it is created: a vector of another dimension is a :class:`StorageError`.
"""

from __future__ import annotations

import math
import time
from array import array
from collections import OrderedDict
from collections.abc import Callable, Sequence

from orchestra.cache.protocols import VectorMatch
from orchestra.errors import StorageError

#: the default bound; vectors are kept as float32 (as S3 Vectors keeps them): 4 bytes a
#: dimension, so 10,000 vectors of 1,536 dimensions hold about 61 MB, of 256 about 10 MB
DEFAULT_MAX_VECTORS = 10_000


def unit(vector: Sequence[float]) -> list[float]:
    """``vector`` scaled to length 1; a zero, empty or non-finite vector is a
    :class:`StorageError` (it has no direction: S3 Vectors refuses it for cosine too)."""
    norm = math.sqrt(math.fsum(x * x for x in vector))
    if not vector or norm == 0.0 or not math.isfinite(norm):
        raise StorageError("a vector must be non-empty, finite and not all zeros")
    return [x / norm for x in vector]


class MemoryVectorStore:
    """Per-scope vectors with an expiry, at most ``max_vectors`` in all."""

    def __init__(
        self,
        max_vectors: int = DEFAULT_MAX_VECTORS,
        *,
        dimension: int | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if max_vectors < 1:
            raise ValueError("max_vectors must be at least 1")
        self.max_vectors = max_vectors
        self.dimension = dimension
        self._clock = clock
        #: (scope, key) -> (unit vector, expires_at), oldest first
        self._order: OrderedDict[tuple[str, str], tuple[array[float], int]] = OrderedDict()
        self._scopes: dict[str, set[str]] = {}

    def __len__(self) -> int:
        return len(self._order)

    def _checked(self, vector: Sequence[float]) -> array[float]:
        if self.dimension is None:
            self.dimension = len(vector)
        elif len(vector) != self.dimension:
            raise StorageError(f"vector of {len(vector)} dimensions in a store of {self.dimension}")
        return array("f", unit(vector))

    async def put(self, scope: str, key: str, vector: Sequence[float], expires_at: int) -> None:
        """Store (replace) ``key``'s vector in ``scope`` until ``expires_at`` (epoch s)."""
        data = self._checked(vector)
        slot = (scope, key)
        self._order.pop(slot, None)
        self._order[slot] = (data, expires_at)
        self._scopes.setdefault(scope, set()).add(key)
        while len(self._order) > self.max_vectors:
            (old_scope, old_key), _ = self._order.popitem(last=False)
            self._forget(old_scope, old_key)

    async def query(self, scope: str, vector: Sequence[float], top_k: int = 3) -> list[VectorMatch]:
        """The ``top_k`` live vectors of ``scope`` nearest ``vector``, most similar first;
        expired ones met on the way are dropped."""
        probe = self._checked(vector)
        now = self._clock()
        found: list[VectorMatch] = []
        for key in list(self._scopes.get(scope, ())):
            data, expires_at = self._order[(scope, key)]
            if expires_at <= now:
                self._drop(scope, key)
                continue
            similarity = math.fsum(a * b for a, b in zip(probe, data, strict=True))
            found.append(VectorMatch(key, min(similarity, 1.0)))
        found.sort(key=lambda match: (-match.similarity, match.key))
        return found[: max(top_k, 0)]

    async def delete(self, scope: str, key: str) -> None:
        self._drop(scope, key)

    def _drop(self, scope: str, key: str) -> None:
        if self._order.pop((scope, key), None) is not None:
            self._forget(scope, key)

    def _forget(self, scope: str, key: str) -> None:
        keys = self._scopes.get(scope)
        if keys is None:
            return
        keys.discard(key)
        if not keys:
            del self._scopes[scope]
