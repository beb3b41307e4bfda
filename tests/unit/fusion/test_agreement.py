"""Similarity, clusters and the confidence formula (numbers checked against the docstring)."""

from __future__ import annotations

import pytest

from orchestra.fusion.agreement import (
    Voter,
    accuracy_of,
    cluster,
    confidence,
    similarity,
)
from orchestra.fusion.answers import normalize


def _voters(*makers: str, p: float = 0.75) -> list[Voter]:
    return [Voter(f"{m}/model-{i}", m, p) for i, m in enumerate(makers)]


def test_numbers_agree_by_value_only() -> None:
    assert similarity(normalize("The answer is 42."), normalize("42")) == 1.0
    # lexically almost identical, numerically different: never the same answer
    assert similarity(normalize("The answer is 42."), normalize("The answer is 41.")) == 0.0
    assert similarity(normalize("42"), normalize("B")) == 0.0


def test_a_short_answer_agrees_with_a_sentence_that_gives_it() -> None:
    paris = normalize("Paris")
    assert similarity(paris, normalize("The capital of France is Paris.")) >= 0.8
    assert similarity(paris, normalize("Lyon")) < 0.5


def test_long_texts_that_merely_overlap_do_not_count_as_one() -> None:
    a = normalize(
        "Use a queue between the services so that bursts are absorbed and retried later, "
        "with a dead-letter queue for the poison messages and alarms on its depth."
    )
    b = normalize(
        "Use a queue between the services so that bursts are absorbed and retried later, "
        "but in addition shard the database by tenant, add read replicas, cache hot keys in "
        "Redis, move reporting to a warehouse and rewrite the billing service in Rust."
    )
    assert similarity(a, b) < 0.8


def test_clusters_are_ordered_by_size_and_agreement_is_the_share() -> None:
    answers = [normalize(t) for t in ("41", "The answer is 42.", "**42**", "forty-two")]
    clustering = cluster(answers)
    assert clustering.clusters == [[1, 2, 3], [0]]
    assert clustering.share(0) == 0.75
    assert clustering.cluster_of(0) == 1


def test_ties_in_size_go_to_the_stronger_evidence() -> None:
    answers = [normalize("41"), normalize("42")]
    clustering = cluster(answers, evidence=[0.5, 2.0])
    assert clustering.clusters == [[1], [0]]


def test_the_medoid_is_the_most_central_answer() -> None:
    answers = [
        normalize(t)
        for t in ("Canberra", "The capital is Canberra.", "Canberra is the capital of Australia.")
    ]
    clustering = cluster(answers)
    assert len(clustering.clusters) == 1
    assert clustering.medoid(0) in (0, 1, 2)
    assert clustering.matrix[0][1] == clustering.matrix[1][0]


def test_accuracy_scale_is_fixed_and_bounded() -> None:
    assert accuracy_of(900) == pytest.approx(0.55)
    assert accuracy_of(1300) == pytest.approx(0.725)
    assert accuracy_of(2000) == pytest.approx(0.9)


@pytest.mark.parametrize(
    ("texts", "makers", "expected"),
    [
        (["42"], ["a"], 0.75),  # a lone model: its own accuracy
        (["42", "42"], ["a", "b"], 0.9),  # two independent models agree
        (["42", "42", "42"], ["a", "b", "c"], 27 / 28),
        (["42", "41"], ["a", "b"], 3 / 7),  # two disagree
        (["42", "42", "41"], ["a", "b", "c"], 9 / 13),
    ],
)
def test_confidence_matches_the_documented_formula(
    texts: list[str], makers: list[str], expected: float
) -> None:
    clustering = cluster([normalize(t) for t in texts])
    assert confidence(clustering, _voters(*makers), 0) == pytest.approx(expected, rel=1e-6)


def test_independent_agreement_is_worth_more_than_same_maker_agreement() -> None:
    clustering = cluster([normalize("42"), normalize("42")])
    independent = confidence(clustering, _voters("openai", "anthropic"), 0)
    same_maker = confidence(clustering, _voters("openai", "openai"), 0)
    alone = confidence(cluster([normalize("42")]), _voters("openai"), 0)
    assert alone < same_maker < independent


def test_more_agreeing_models_raise_confidence_and_dissent_lowers_it() -> None:
    values = []
    for n in range(1, 5):
        clustering = cluster([normalize("42")] * n)
        values.append(confidence(clustering, _voters(*"abcd"[:n]), 0))
    assert values == sorted(values) and values[-1] > 0.97
    dissent = cluster([normalize("42")] * 3 + [normalize("41")])
    assert confidence(dissent, _voters(*"abcd"), 0) < values[2]


def test_extra_evidence_for_the_chosen_cluster_raises_it() -> None:
    clustering = cluster([normalize("42"), normalize("41")])
    voters = _voters("a", "b")
    assert confidence(clustering, voters, 1, extra=1.1) > confidence(clustering, voters, 1)


def test_confidence_is_a_probability_for_strong_voters() -> None:
    clustering = cluster([normalize("42")] * 8)
    value = confidence(clustering, _voters(*"abcdefgh", p=0.999), 0)
    assert 0.99 < value <= 1.0
