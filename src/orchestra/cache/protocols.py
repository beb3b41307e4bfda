"""What the cache needs from storage and from the gateway, as protocols.

Each has an in-memory implementation and a deployed one, held to the same contract tests:
:class:`AnswerBackend` (the second level: ``storage/cache.py``, DynamoDB with TTL; locally
none, the LRU alone) and :class:`VectorStore` (``cache/vectors.py`` in memory,
``storage/s3vectors.py`` on Amazon S3 Vectors).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from orchestra.cache.records import CachedAnswer


class AnswerBackend(Protocol):
    """The second level: answers by key, shared by every instance."""

    async def get(self, key: str) -> CachedAnswer | None:
        """The entry (fresh or stale: the caller decides), in one read; None: none."""
        ...

    async def put(self, key: str, answer: CachedAnswer, expires_at: int) -> None:
        """Store (replace) the entry; the store may drop it after ``expires_at`` (epoch s)."""
        ...


@dataclass(frozen=True, slots=True)
class VectorMatch:
    """A stored vector near the query: its key (an answer's cache key) and its cosine."""

    key: str
    similarity: float


class VectorStore(Protocol):
    """Vectors of questions, by scope (the hash of everything but the last user message,
    namespace included): a query only ever sees its own scope's vectors."""

    async def put(self, scope: str, key: str, vector: Sequence[float], expires_at: int) -> None: ...

    async def query(self, scope: str, vector: Sequence[float], top_k: int = 3) -> list[VectorMatch]:
        """The nearest of the scope's live vectors, most similar first."""
        ...

    async def delete(self, scope: str, key: str) -> None: ...


#: a text to its unit vector, through the gateway's own embeddings routing
Embedder = Callable[[str], Awaitable[list[float]]]
