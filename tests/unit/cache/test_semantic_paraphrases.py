"""The semantic cache on the paraphrase set (tests/data/paraphrases.jsonl), through the
real index over the memory store, with the offline embedder ``sim-embed`` (a lexical
hashed embedding: it scores shared wording, not meaning). ``bench/semantic_cache.py``
prints the same figures as a table, and runs them against a real model through a gateway.

Measured (sim-embed, threshold 0.95): hit rate 13/40 with or without the guard; false hits
9/48 without the guard, 0/48 with it. The floors below leave a margin under those.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "bench"))

from orchestra.cache.records import DEFAULT_THRESHOLD
from orchestra.cache.semantic import subject_change
from semantic_cache import THRESHOLDS, load_pairs, rates, sim_embed_many, similarities

PAIRS = load_pairs()


@pytest.fixture(scope="module")
def cosines() -> list[float]:
    import asyncio

    return asyncio.run(similarities(PAIRS, sim_embed_many))


def test_the_set_has_enough_of_both_kinds() -> None:
    kinds = {p.kind for p in PAIRS if not p.same}
    assert sum(p.same for p in PAIRS) >= 40
    assert sum(not p.same for p in PAIRS) >= 40
    assert {"name", "number", "date", "negation", "unit", "identifier", "entity"} <= kinds


def test_at_the_default_threshold_the_guard_leaves_no_false_hit(cosines: list[float]) -> None:
    guarded = rates(PAIRS, cosines, DEFAULT_THRESHOLD, guard=True)
    bare = rates(PAIRS, cosines, DEFAULT_THRESHOLD, guard=False)

    assert guarded.false_hits == 0
    assert bare.false_hits >= 5  # sim-embed alone serves look-alikes: the guard is needed
    assert guarded.hit_rate >= 0.25  # measured 13/40


@pytest.mark.parametrize("threshold", THRESHOLDS)
def test_no_threshold_of_the_sweep_gives_a_false_hit_with_the_guard(
    cosines: list[float], threshold: float
) -> None:
    assert rates(PAIRS, cosines, threshold, guard=True).false_hits == 0


def test_a_lower_threshold_never_hits_less(cosines: list[float]) -> None:
    hit_rates = [rates(PAIRS, cosines, t, guard=True).hit_rate for t in THRESHOLDS]

    assert hit_rates == sorted(hit_rates, reverse=True)
    assert hit_rates[0] >= 0.6  # measured 30/40 at 0.80


def test_the_guard_alone_refuses_every_look_alike_and_few_rewordings() -> None:
    passed = [(p, subject_change(p.b, p.a) is None) for p in PAIRS]

    assert [p.b for p, ok in passed if ok and not p.same] == []
    assert sum(ok for p, ok in passed if p.same) >= 36  # measured 38/40
