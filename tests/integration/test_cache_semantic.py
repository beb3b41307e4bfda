"""The semantic cache wired in by compose, through the real app: the question embedded by
the gateway's own embeddings routing (the simulator's deterministic ``sim-embed``), a near
question answered from cache, a look-alike about another subject not, and an embedding
that fails a plain miss."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from orchestra.api.app import create_app
from orchestra.cache.vectors import MemoryVectorStore
from orchestra.compose import build_services
from orchestra.compose.core import memory_stores
from orchestra.config import Settings

from support.cache import Numbered, ask, cached_gateway
from support.gateway import started
from support.upstream import FakeUpstream


def _ask(question: str) -> dict[str, Any]:
    return {"model": "auto", "temperature": 0, "messages": [{"role": "user", "content": question}]}


@pytest.fixture
async def simulated() -> AsyncIterator[tuple[httpx.AsyncClient, MemoryVectorStore]]:
    stores, vectors = memory_stores(), MemoryVectorStore()
    stores.vectors = vectors
    settings = Settings(
        simulator_latency_scale=0.0,
        cache_ttl_s=60,
        cache_semantic=True,
        cache_embedding_model="auto",
    )
    services = build_services(settings, {}, stores=stores)
    transport = httpx.ASGITransport(app=create_app(services))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
            yield client, vectors
    finally:
        await services.aclose()


async def test_a_reworded_question_is_a_semantic_hit_and_another_subject_is_not(
    simulated: tuple[httpx.AsyncClient, MemoryVectorStore],
) -> None:
    client, vectors = simulated
    first = await client.post("/v1/chat/completions", json=_ask("What is the capital of Austria?"))
    near = await client.post("/v1/chat/completions", json=_ask("What is the capital of Austria"))
    other = await client.post(
        "/v1/chat/completions", json=_ask("What is the capital of Australia?")
    )
    assert first.headers["x-orchestra-cache"] == "miss" and len(vectors) >= 1
    assert near.headers["x-orchestra-cache"] == "hit"
    assert near.headers["x-orchestra-cache-match"] == "semantic"
    assert float(near.headers["x-orchestra-cache-similarity"]) >= 0.95
    assert near.json()["choices"] == first.json()["choices"]
    assert other.headers["x-orchestra-cache"] == "miss"


async def test_an_embedding_that_fails_is_a_miss_and_the_answer_is_served(
    tmp_path: Path,
) -> None:
    # Given semantic lookups on, but no embedding model the gateway can reach
    async with (
        started({"alpha": FakeUpstream(responder=Numbered())}) as fakes,
        cached_gateway(
            tmp_path, fakes["alpha"].base_url, cache_ttl_s=60, cache_semantic=True
        ) as gw,
    ):
        first = await gw.client.post("/v1/chat/completions", json=ask())
        second = await gw.client.post("/v1/chat/completions", json=ask("Where do I write"))
    assert first.status_code == second.status_code == 200
    assert [first.headers["x-orchestra-cache"], second.headers["x-orchestra-cache"]] == [
        "miss",
        "miss",
    ]
