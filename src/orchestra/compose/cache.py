"""The answer cache a function's generate use case consults (docs/cache.md).

Always built: a request the cache is off for costs one ``CacheControls.plan`` call, so
nothing needs to decide up front whether any key or request will turn it on. Its levels:
the in-process LRU, then the second level: what the caller handed in ``Stores.cache``
(tests), else DynamoDB when the function was given the cache table, else none. The
semantic index only when semantic lookups can be on (the gateway's setting, a vector
bucket, or key policies that may turn it on): vectors in ``Stores.vectors``, else S3
Vectors when configured, else in memory; questions embedded through the function's own
embeddings service.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from orchestra.cache.controls import CacheControls
from orchestra.cache.lru import ByteLRU
from orchestra.cache.policy import AnswerCache
from orchestra.cache.tiers import AnswerTiers

if TYPE_CHECKING:
    from orchestra.cache.protocols import AnswerBackend, Embedder, VectorStore
    from orchestra.cache.semantic import SemanticIndex
    from orchestra.compose.core import Core
    from orchestra.config import Settings
    from orchestra.embed.service import Embed


def answer_cache(core: Core, embed: Embed | None = None) -> AnswerCache:
    settings, stores = core.settings, core.stores
    lru = ByteLRU(settings.cache_memory_bytes, settings.cache_max_entry_bytes)
    tiers = AnswerTiers(lru, second_level(settings, stores.cache), settings.cache_stale_keep_s)
    semantic = None
    if embed is not None and semantic_possible(settings, governed=stores.policies is not None):
        semantic = semantic_index(settings, vector_store(settings, stores.vectors), embed)
    return AnswerCache(
        tiers,
        CacheControls(settings),
        semantic=semantic,
        observer=core.observer,
        spend=stores.spend,
        max_entry_bytes=settings.cache_max_entry_bytes,
    )


def second_level(settings: Settings, given: AnswerBackend | None) -> AnswerBackend | None:
    if given is not None or not settings.cache_table:
        return given
    from orchestra.storage.cache import DynamoDBAnswerBackend  # boto3: only when configured

    return DynamoDBAnswerBackend(settings.cache_table)


def semantic_possible(settings: Settings, *, governed: bool) -> bool:
    """Whether any request may look up semantically: the gateway turns it on for every
    key, a vector bucket is configured, or key policies (governance) may turn it on."""
    return settings.cache_semantic or bool(settings.cache_vector_bucket) or governed


def vector_store(settings: Settings, given: VectorStore | None) -> VectorStore:
    if given is not None:
        return given
    if settings.cache_vector_bucket and settings.cache_vector_index:
        from orchestra.storage.s3vectors import S3VectorStore

        return S3VectorStore(settings.cache_vector_bucket, settings.cache_vector_index)
    from orchestra.cache.vectors import MemoryVectorStore

    return MemoryVectorStore()


def embedder(settings: Settings, embed: Embed) -> Embedder:
    """A question to its vector through the gateway's own embeddings routing."""
    from orchestra.schemas.embeddings import EmbeddingRequest

    model = settings.cache_embedding_model

    async def embedded(text: str) -> list[float]:
        result = await embed.embed(EmbeddingRequest(model=model, input=text))
        return list(result.vectors[0])

    return embedded


def semantic_index(settings: Settings, vectors: VectorStore, embed: Embed) -> SemanticIndex:
    from orchestra.cache.semantic import SemanticIndex

    return SemanticIndex(
        vectors, embedder(settings, embed), threshold_default=settings.cache_semantic_threshold
    )
