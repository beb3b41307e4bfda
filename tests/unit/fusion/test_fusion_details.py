"""Fusion details a mutation run showed untested: similarity paths, medoids, ranks, cuts."""

from __future__ import annotations

import math

import pytest

from orchestra.catalog.models import ModelInfo
from orchestra.fusion.agreement import Clustering, Voter, confidence, log_odds, similarity
from orchestra.fusion.answers import normalize
from orchestra.fusion.prompts import CONVERSATION_CHARS, conversation_text, parse_verdict
from orchestra.fusion.strategies import Answer, Decision, clustering_of, merge_sections, rank_scores
from orchestra.schemas.chat import ChatMessage


def _model(model_id: str, quality: float = 1300, price: float = 1e-6) -> ModelInfo:
    return ModelInfo(
        id=model_id, context_window=128_000, input_price=price, output_price=price, quality=quality
    )


def test_a_short_answer_agrees_with_a_sentence_that_contains_it() -> None:
    short = normalize("Paris")
    sentence = normalize(
        "The capital of France is Paris. It has been the capital for centuries and it is "
        "also the largest city of the country."
    )
    assert short.kind != "text" and sentence.kind == "text"
    assert similarity(short, sentence) == 1.0 and similarity(sentence, short) == 1.0


def test_two_long_answers_with_the_same_words_reordered_agree_fully() -> None:
    a = normalize("The quick brown fox jumps over the lazy dog near the river bank today.")
    b = normalize("Today near the river bank the lazy dog is jumped over by the quick brown fox.")
    assert a.kind == b.kind == "text"
    assert 0.5 < similarity(a, b) < 1.0
    c = normalize("Near the river bank today the quick brown fox jumps over the lazy dog.")
    assert similarity(a, c) == 1.0


def test_numbers_agree_by_value_even_when_written_differently() -> None:
    assert similarity(normalize("42"), normalize("42.0000000001")) == 1.0
    assert similarity(normalize("42"), normalize("43")) == 0.0


def test_the_medoid_is_the_most_central_member_before_the_heaviest() -> None:
    matrix = [[1.0, 0.8, 0.1], [0.8, 1.0, 0.9], [0.1, 0.9, 1.0]]
    clustering = Clustering([[0, 1, 2]], matrix)
    assert clustering.medoid(0, [0.9, 0.1, 0.5]) == 1
    tied = Clustering([[0, 1]], [[1.0, 0.9], [0.9, 1.0]])
    assert tied.medoid(0, [0.2, 0.7]) == 1 and tied.medoid(0) == 0


def test_same_maker_voters_count_half_after_the_first() -> None:
    odds = math.log(0.75 / 0.25)
    a, b, c = (Voter(f"x/{i}", "x", 0.75) for i in range(3))
    other = Voter("y/1", "y", 0.75)
    assert log_odds([a]) == pytest.approx(odds)
    assert log_odds([a, b, c]) == pytest.approx(2.0 * odds)
    assert log_odds([a, other, b]) == pytest.approx(2.5 * odds)


def test_confidence_of_the_first_cluster_by_default_and_zero_without_clusters() -> None:
    answers = [Answer.of(_model(f"{m}/a"), t) for m, t in (("x", "42"), ("y", "42"), ("z", "7"))]
    voters = [a.voter for a in answers]
    clustering = Clustering([[0, 1], [2]], [[1.0] * 3] * 3)
    assert confidence(clustering, voters, 0) > confidence(clustering, voters, 1)
    assert confidence(Clustering([], []), [], 0) == 0.0
    decision = Decision("merge", "", clustering_of(answers), None, None)
    assert decision.agreement() == pytest.approx(0.6667)
    assert decision.confidence(answers) == pytest.approx(confidence(clustering, voters, 0), 1e-3)
    assert Decision("merge", "", Clustering([], []), None, None).agreement() == 0.0


def test_rank_scores_weigh_quality_on_a_fixed_scale() -> None:
    same = "A complete answer of a typical length."
    strong = Answer.of(_model("x/strong", quality=1500), same)
    weak = Answer.of(_model("y/weak", quality=1100), same)
    scores = rank_scores([strong, weak])
    # quality 1.0 vs 0.0 on the 0.6 weight; length and cost equal
    assert scores[0] - scores[1] == pytest.approx(0.6, abs=1e-3)
    blank = Answer.of(_model("z/blank"), "")
    one = Answer.of(_model("w/one"), "x")
    assert rank_scores([blank, one])[0] == rank_scores([blank, one])[1]


def test_merge_labels_only_a_shared_first_answer_as_consensus() -> None:
    answers = [Answer.of(_model(f"{m}/a"), t) for m, t in (("x", "42"), ("y", "17"))]
    merged = merge_sections(answers, clustering_of(answers))
    assert "### Consensus" not in merged.content
    assert merged.content.startswith("### Answer (1 of 2: x/a)") and merged.chosen == 0
    shared = [Answer.of(_model(f"{m}/a"), t) for m, t in (("x", "42"), ("y", "42"), ("z", "7"))]
    content = merge_sections(shared, clustering_of(shared)).content
    assert (
        content.startswith("### Consensus (2 of 3: x/a, y/a)") and "### Answer (1 of 3" in content
    )


def test_a_long_conversation_keeps_its_end() -> None:
    messages = [
        ChatMessage(role="user", content="opening " * (CONVERSATION_CHARS // 4)),
        ChatMessage(role="user", content="the actual question"),
    ]
    text = conversation_text(messages)
    assert text.startswith("[...]") and text.endswith("USER: the actual question")
    assert len(text) == CONVERSATION_CHARS + len("[...]")


def test_a_verdict_after_an_unreadable_json_object_is_still_found() -> None:
    text = '{"best": oops} then {"best": 2, "reason": "clearer"}'
    verdict = parse_verdict(text, 3)
    assert verdict is not None and verdict.index == 1 and verdict.reason == "clearer"
    bare = parse_verdict('{"best": 3}', 3)
    assert bare is not None and bare.reason == ""


@pytest.mark.parametrize(
    ("text", "kind", "key", "final"),
    [
        ("(B)", "choice", "choice:B", "(B)"),
        ("Yes, it is", "boolean", "bool:yes", "Yes, it is"),
        ("No, it is not", "boolean", "bool:no", "No, it is not"),
        (
            "No, it is not that simple",
            "short",
            "no it is not that simple",
            "No, it is not that simple",
        ),
        ("Paris", "short", "paris", "Paris"),
        ("Paris.", "short", "paris", "Paris"),
        ("choice B", "choice", "choice:B", "choice B"),
        ("forty-two", "number", "num:42", "forty-two"),
        (r"Let me think. \boxed{7} is it.", "number", "num:7", "7"),
        ("The answer is 3 / 4.", "number", "num:0.75", "3 / 4"),
        ("6 x 7 = 42", "number", "num:42", "6 x 7 = 42"),
        ("x = 3 + 4 = 7", "number", "num:7", "x = 3 + 4 = 7"),
    ],
)
def test_normalisation_keeps_the_final_phrase(text: str, kind: str, key: str, final: str) -> None:
    normalized = normalize(text)
    assert (normalized.kind, normalized.key, normalized.final) == (kind, key, final)
    assert normalized.text == text


def test_a_long_answer_phrase_is_kept_up_to_sixteen_words() -> None:
    sixteen = " ".join(["word"] * 16)
    assert normalize(f"Some reasoning first. The answer is {sixteen}.").final == sixteen
    seventeen = " ".join(["word"] * 17)
    assert normalize(f"Some reasoning first, then more. The answer is {seventeen}.").final is None


def test_the_synthesiser_sees_the_conversation_and_writes_with_little_randomness() -> None:
    from orchestra.fusion.prompts import SYNTHESIS_MAX_TOKENS, synthesis_request

    question = [ChatMessage(role="user", content="How do I scale this service?")]
    request = synthesis_request(question, ["Use a queue.", "Add a cache."], None)
    assert request.temperature == 0.2 and request.max_tokens == SYNTHESIS_MAX_TOKENS
    assert request.model == "synthesizer"
    user = request.messages[-1].text()
    assert user.endswith("Write the merged answer.")
    assert "<conversation>\nUSER: How do I scale this service?\n</conversation>" in user
    assert synthesis_request(question, ["a", "b"], 300).max_tokens == 300


def test_structured_answers_without_a_value_agree_by_key() -> None:
    assert similarity(normalize("(B)"), normalize("B")) == 1.0
    assert similarity(normalize("(B)"), normalize("C")) == 0.0
    assert Clustering([], []).largest() == []


def test_equal_clusters_are_ordered_by_the_evidence_behind_them() -> None:
    weak = Answer.of(_model("x/weak", quality=1100), "41")
    strong = Answer.of(_model("y/strong", quality=1500), "42")
    assert clustering_of([weak, strong]).clusters == [[1], [0]]


def test_merge_shows_the_stronger_models_wording_of_a_shared_answer() -> None:
    weak = Answer.of(_model("x/weak", quality=1100), "42")
    strong = Answer.of(_model("y/strong", quality=1500), "The answer is 42.")
    other = Answer.of(_model("z/other", quality=1300), "17")
    answers = [weak, strong, other]
    content = merge_sections(answers, clustering_of(answers)).content
    assert content.startswith("### Consensus (2 of 3: x/weak, y/strong)\n\nThe answer is 42.")


def test_a_rank_score_is_the_weighted_sum_of_its_parts() -> None:
    from orchestra.fusion.strategies import RANK_WEIGHTS
    from orchestra.routing.scorer import cost_score

    best = Answer.of(_model("x/best", quality=1500), "An answer.")
    cost = cost_score(best.model.blended_price())
    expected = RANK_WEIGHTS["quality"] * 1.0 + RANK_WEIGHTS["length"] * 1.0
    assert rank_scores([best]) == {0: round(expected + RANK_WEIGHTS["cost"] * cost, 4)}


def test_prompt_wording_and_notes_that_clients_see() -> None:
    from orchestra.fusion.prompts import judge_request

    question = [ChatMessage(role="user", content="q")]
    user = judge_request(question, ["a", "b"]).messages[-1].text()
    assert user.endswith("Which answer is best? Reply with JSON only.")
    same = [Answer.of(_model(f"{m}/a"), "42") for m in ("x", "y")]
    note = merge_sections(same, clustering_of(same)).note
    assert note == "every model gave the same answer: it is returned as is"
    assert normalize("Malcolm X").key == "malcolm x"
