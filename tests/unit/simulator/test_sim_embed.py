"""``sim-embed``: deterministic, unit length, honours ``dimensions``, and similar texts are
closer than unrelated ones."""

from __future__ import annotations

import math
import subprocess
import sys

import pytest

from orchestra.errors import ProviderBadRequest
from orchestra.providers.base import CallOptions, ProviderConfig
from orchestra.simulator import SimulatorProvider
from orchestra.simulator.embeddings import SIZE, SimulatorEmbeddings, embed_text


def cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


def norm(v: list[float]) -> float:
    return math.sqrt(sum(x * x for x in v))


def test_identical_texts_give_identical_unit_vectors_of_the_full_size():
    a, b = embed_text("The cat sat on the mat"), embed_text("The cat sat on the mat")
    assert a == b and len(a) == SIZE == 256
    assert math.isclose(norm(a), 1.0)


def test_vectors_are_the_same_in_another_process():
    code = "from orchestra.simulator.embeddings import embed_text; print(embed_text('hello')[:8])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == str(embed_text("hello")[:8])


@pytest.mark.parametrize("size", [SIZE, 64, 8])
def test_paraphrases_sharing_words_score_higher_than_unrelated_texts(size):
    anchor = embed_text("How do I reset my password?", size)
    paraphrase = embed_text("How can I reset a forgotten password", size)
    unrelated = embed_text("Quarterly revenue grew by ten percent in Europe", size)
    assert cosine(anchor, paraphrase) > cosine(anchor, unrelated) + 0.3


def test_dimensions_truncate_and_renormalise():
    full, short = embed_text("vector databases", SIZE), embed_text("vector databases", 32)
    assert len(short) == 32 and math.isclose(norm(short), 1.0)
    scale = norm(full[:32])
    assert short == pytest.approx([v / scale for v in full[:32]])


def test_text_without_words_is_still_a_unit_vector():
    assert math.isclose(norm(embed_text("?!")), 1.0)


async def test_the_simulator_provider_embeds_with_token_counts():
    client = SimulatorEmbeddings(SimulatorProvider(ProviderConfig("simulator", "simulator")))
    vectors, tokens = await client.embed(["one two", "three"], "sim-embed", 16, CallOptions())
    assert [len(v) for v in vectors] == [16, 16] and tokens > 0
    with pytest.raises(ProviderBadRequest) as info:
        await client.embed(["x"], "sim-embed", 512, CallOptions())
    assert info.value.param == "dimensions"
