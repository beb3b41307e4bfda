"""The semantic index: probe (embed, query, threshold), remember, and the entity guard.

Failures of the embedder or the vector store are a miss, never an error."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

import pytest

from orchestra.cache.protocols import VectorMatch
from orchestra.cache.semantic import Probe, SemanticIndex, subject_change
from orchestra.cache.vectors import MemoryVectorStore
from orchestra.errors import StorageError

LATER = 2_000_000_000
VECTORS = {
    "capital of France": [1.0, 0.0, 0.0],
    "France capital": [0.99, 0.14, 0.0],
    "tell me about France": [0.8, 0.6, 0.0],
    "unrelated": [0.0, 0.0, 1.0],
}


async def table_embed(text: str) -> list[float]:
    return [2.0 * x for x in VECTORS[text]]  # not unit length: the index normalises


async def failing_embed(text: str) -> list[float]:
    raise ConnectionError("embedding model down")


class BrokenStore:
    async def put(self, scope: str, key: str, vector: Sequence[float], expires_at: int) -> None:
        raise StorageError("S3 Vectors PutVectors on questions failed: ThrottlingException")

    async def query(self, scope: str, vector: Sequence[float], top_k: int = 3) -> list[VectorMatch]:
        raise StorageError("S3 Vectors QueryVectors on questions failed: ThrottlingException")

    async def delete(self, scope: str, key: str) -> None:
        raise StorageError("nope")


async def filled(index: SemanticIndex, scope: str = "s1") -> SemanticIndex:
    for n, text in enumerate(VECTORS):
        await index.remember(scope, f"k:{n}", await table_embed(text), LATER)
    return index


async def test_probe_keeps_matches_at_or_above_the_threshold_best_first() -> None:
    index = await filled(SemanticIndex(MemoryVectorStore(), table_embed, top_k=3))

    probe = await index.probe("s1", "capital of France", threshold=0.95)

    assert probe.vector == pytest.approx([1.0, 0.0, 0.0])
    assert [m.key for m in probe.matches] == ["k:0", "k:1"]
    assert probe.matches[0].similarity == pytest.approx(1.0, abs=1e-6)
    assert probe.matches[1].similarity == pytest.approx(0.99 / (0.99**2 + 0.14**2) ** 0.5)


async def test_a_threshold_of_one_still_matches_the_same_question() -> None:
    index = await filled(SemanticIndex(MemoryVectorStore(), table_embed))

    probe = await index.probe("s1", "France capital", threshold=1.0)

    assert [m.key for m in probe.matches] == ["k:1"]  # float32 storage: 1 - 1e-7 counts


async def test_probe_sees_only_its_scope() -> None:
    index = await filled(SemanticIndex(MemoryVectorStore(), table_embed), scope="team-a")

    probe = await index.probe("team-b", "capital of France", threshold=0.5)

    assert probe.vector is not None
    assert probe.matches == []


async def test_an_embedding_failure_is_an_empty_probe_logged_by_type(
    caplog: pytest.LogCaptureFixture,
) -> None:
    index = SemanticIndex(MemoryVectorStore(), failing_embed)

    with caplog.at_level(logging.WARNING, logger="orchestra.cache"):
        probe = await index.probe("s1", "capital of France", threshold=0.95)

    assert probe == Probe(None, [])
    assert "ConnectionError" in caplog.text
    assert "embedding model down" not in caplog.text  # the type only: no upstream detail


async def test_a_zero_vector_from_the_embedder_is_an_empty_probe() -> None:
    async def zeros(text: str) -> list[float]:
        return [0.0, 0.0, 0.0]

    probe = await SemanticIndex(MemoryVectorStore(), zeros).probe("s1", "q", threshold=0.9)

    assert probe == Probe(None, [])


async def test_a_slow_embedder_is_cut_off_as_a_miss(caplog: pytest.LogCaptureFixture) -> None:
    async def slow(text: str) -> list[float]:
        await asyncio.sleep(5)
        return [1.0]

    index = SemanticIndex(MemoryVectorStore(), slow, timeout_s=0.01)

    with caplog.at_level(logging.WARNING, logger="orchestra.cache"):
        probe = await index.probe("s1", "q", threshold=0.9)

    assert probe == Probe(None, [])
    assert "TimeoutError" in caplog.text


async def test_a_store_failure_keeps_the_vector_and_finds_nothing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    index = SemanticIndex(BrokenStore(), table_embed)

    with caplog.at_level(logging.WARNING, logger="orchestra.cache"):
        probe = await index.probe("s1", "capital of France", threshold=0.9)
        await index.remember("s1", "k:0", [1.0, 0.0, 0.0], LATER)

    assert probe.vector == pytest.approx([1.0, 0.0, 0.0])
    assert probe.matches == []
    assert caplog.text.count("StorageError") == 2


async def test_remember_then_probe_finds_the_key() -> None:
    index = SemanticIndex(MemoryVectorStore(), table_embed)
    first = await index.probe("s1", "capital of France", threshold=0.95)
    assert first.matches == [] and first.vector is not None

    await index.remember("s1", "k:answer", first.vector, LATER)

    again = await index.probe("s1", "France capital", threshold=0.95)
    assert [m.key for m in again.matches] == ["k:answer"]


# -- the entity guard ---------------------------------------------------------------------


def test_same_subject_needs_a_cached_question() -> None:
    index = SemanticIndex(MemoryVectorStore(), table_embed)

    assert index.same_subject("capital of France", None) is False
    assert index.same_subject("What's the capital of France?", "capital of France?") is True


def test_with_the_guard_off_any_cached_question_may_answer() -> None:
    index = SemanticIndex(MemoryVectorStore(), table_embed, guard=False)

    assert index.same_subject("capital of Austria", "capital of Australia") is True
    assert index.same_subject("capital of Austria", None) is False


@pytest.mark.parametrize(
    ("question", "cached", "reason"),
    [
        ("What is the capital of Austria?", "What is the capital of Australia?", "marked"),
        ("what is the capital of austria", "what is the capital of australia", "swap"),
        ("What is the sum of 2 and 3?", "What is the sum of 2 and 4?", "marked"),
        ("What is the sum of two and three?", "What is the sum of two and four?", "marked"),
        ("Which foods are safe for dogs?", "Which foods aren't safe for dogs?", "marked"),
        ("Which foods are safe for dogs?", "Which foods are not safe for dogs?", "marked"),
        ("What holidays are in May 2025?", "What holidays are in May 2026?", "marked"),
        ("How long is 10 km?", "How long is 10 miles?", "marked"),
        ("What does list.append do?", "What does list.extend do?", "marked"),
        ("Explain `useEffect`", "Explain `useState`", "marked"),
        ("How do I use my_var here?", "How do I use my_val here?", "marked"),
        ("When was the Eiffel Tower built?", "Where was the Eiffel Tower built?", "marked"),
        ("Solve for x", "Solve for y", "marked"),
        ("Fly from Paris to Rome", "Fly from Rome to Paris", "order"),
        ("Convert a string to an integer", "Convert an integer to a string", "order"),
        ("Is a cat bigger than a dog?", "Is a dog bigger than a cat?", "order"),
        ("how do i cook rice in a rice cooker", "how do i cook quinoa in a rice cooker", "swap"),
        ("What is the largest planet?", "What is the smallest planet?", "swap"),
        ("List its advantages and costs", "List its disadvantages and risks", "near-spelling"),
    ],
)
def test_look_alikes_are_refused_with_their_reason(question: str, cached: str, reason: str) -> None:
    assert subject_change(question, cached) == reason
    assert SemanticIndex(MemoryVectorStore(), table_embed).same_subject(question, cached) is False


@pytest.mark.parametrize(
    ("question", "cached"),
    [
        ("What is the capital of France?", "what's the capital of france"),
        ("WHY IS THE SKY BLUE", "why is the sky blue?!"),
        ("How do I reverse a list in Python?", "In Python, how can I reverse a list?"),
        ("Summarize Hamlet in three sentences.", "In three sentences, summarize Hamlet."),
        ("Why isn't the sky green?", "Why is the sky not green?"),
        ("How do I sort lists?", "how do i sort a list"),
        ("Explain the water cycle", "Please describe the water cycle"),
        ("Tell me the capital city of France", "What's France's capital city?"),
        ("Convert a string into an integer in Java", "In Java, convert a string to an integer"),
    ],
)
def test_rewording_casing_punctuation_and_order_do_not_matter(question: str, cached: str) -> None:
    assert subject_change(question, cached) is None
