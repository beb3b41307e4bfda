"""The in-memory vector store's own rules (the shared contract is in
tests/integration/test_s3vectors_contract.py): its bound and its dimension."""

from __future__ import annotations

import pytest

from orchestra.cache.vectors import MemoryVectorStore, unit
from orchestra.errors import StorageError

LATER = 2_000_000_000


async def test_past_its_bound_the_oldest_vector_goes() -> None:
    store = MemoryVectorStore(max_vectors=2)
    await store.put("s1", "k:1", [1.0, 0.0], LATER)
    await store.put("s2", "k:2", [1.0, 0.0], LATER)

    await store.put("s1", "k:3", [0.0, 1.0], LATER)

    assert len(store) == 2
    assert [m.key for m in await store.query("s1", [1.0, 0.0])] == ["k:3"]
    assert [m.key for m in await store.query("s2", [1.0, 0.0])] == ["k:2"]


async def test_storing_a_key_again_makes_it_the_newest() -> None:
    store = MemoryVectorStore(max_vectors=2)
    await store.put("s1", "k:1", [1.0, 0.0], LATER)
    await store.put("s1", "k:2", [1.0, 0.0], LATER)
    await store.put("s1", "k:1", [1.0, 0.0], LATER)

    await store.put("s1", "k:3", [1.0, 0.0], LATER)

    assert {m.key for m in await store.query("s1", [1.0, 0.0])} == {"k:1", "k:3"}


async def test_the_first_vector_fixes_the_dimension() -> None:
    store = MemoryVectorStore()
    await store.put("s1", "k:1", [1.0, 0.0, 0.0], LATER)

    assert store.dimension == 3
    with pytest.raises(StorageError, match="3"):
        await store.put("s1", "k:2", [1.0, 0.0], LATER)


async def test_an_expired_vector_is_dropped_when_met() -> None:
    now = [1_000.0]
    store = MemoryVectorStore(clock=lambda: now[0])
    await store.put("s1", "k:1", [1.0, 0.0], 1_010)
    now[0] = 1_020

    assert await store.query("s1", [1.0, 0.0]) == []
    assert len(store) == 0


def test_unit_refuses_what_has_no_direction() -> None:
    assert unit([3.0, 4.0]) == pytest.approx([0.6, 0.8])
    for bad in ([], [0.0, 0.0], [float("nan"), 1.0], [float("inf"), 0.0]):
        with pytest.raises(StorageError):
            unit(bad)


def test_a_bound_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="max_vectors"):
        MemoryVectorStore(max_vectors=0)
