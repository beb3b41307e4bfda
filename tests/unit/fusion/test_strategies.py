"""The strategies as pure functions, on real-looking answers; the judge's verdict parsing."""

from __future__ import annotations

import pytest

from orchestra.catalog.models import ModelInfo
from orchestra.fusion.agreement import Voter
from orchestra.fusion.prompts import (
    ANSWER_CHARS,
    judge_request,
    parse_verdict,
    synthesis_request,
)
from orchestra.fusion.strategies import (
    Answer,
    clustering_of,
    first,
    judged,
    merge_sections,
    rank,
    rank_scores,
    vote,
)
from orchestra.schemas.chat import ChatMessage


def _model(model_id: str, quality: float, price: float = 1e-6) -> ModelInfo:
    return ModelInfo(
        id=model_id, context_window=128_000, input_price=price, output_price=price, quality=quality
    )


def _answers(*pairs: tuple[str, str], quality: float = 1300) -> list[Answer]:
    return [Answer.of(_model(m, quality), text) for m, text in pairs]


ARITHMETIC = _answers(
    ("openai/gpt-4o", "6 x 7 = 42, so the answer is 42."),
    ("anthropic/claude-sonnet-4", "**42**"),
    ("gemini/gemini-2.5-pro", "The answer is 42."),
    ("groq/llama-3.1-8b-instant", "The answer is 48."),
)


def test_vote_takes_the_largest_cluster_and_its_most_central_answer() -> None:
    clustering = clustering_of(ARITHMETIC)
    decision = vote(ARITHMETIC, clustering)
    assert decision.winner in (0, 1, 2) and decision.chosen == 0
    assert decision.agreement() == 0.75
    assert 0.8 < decision.confidence(ARITHMETIC) < 0.9  # 3 of 4 at p = 0.725 each


def test_vote_on_free_text_uses_similarity() -> None:
    answers = _answers(
        ("openai/gpt-4o", "The capital of Australia is Canberra."),
        ("anthropic/claude-sonnet-4", "Canberra"),
        ("gemini/gemini-2.5-pro", "Sydney is the capital of Australia."),
    )
    decision = vote(answers, clustering_of(answers))
    assert answers[decision.winner or 0].normalized.key in (
        "canberra",
        "capital of australia is canberra",
    )
    assert decision.agreement() == pytest.approx(2 / 3, abs=1e-4)


def test_first_is_the_first_arrival() -> None:
    decision = first(ARITHMETIC, clustering_of(ARITHMETIC))
    assert decision.winner == 0 and decision.applied == "first"


def test_rank_prefers_quality_then_sensible_length_then_cost() -> None:
    answers = [
        Answer.of(_model("a/strong", 1450, 1e-5), "A full, well-sized answer about the topic."),
        Answer.of(_model("b/weak", 1150, 1e-7), "An answer of a similar, sensible size here."),
        Answer.of(_model("c/strong-rambling", 1450, 1e-5), "word " * 400),
    ]
    scores = rank_scores(answers)
    assert scores[0] > scores[2]  # same quality and price: the rambling one loses on length
    assert scores[0] > scores[1]  # quality outweighs price
    decision = rank(answers, clustering_of(answers))
    assert decision.winner == 0 and decision.scores == scores


def test_rank_penalises_an_answer_cut_off_by_max_tokens() -> None:
    model = _model("a/m", 1300)
    whole = Answer.of(model, "An answer of reasonable size.", "stop")
    cut = Answer.of(model, "An answer of reasonable size.", "length")
    scores = rank_scores([whole, cut])
    assert scores[0] > scores[1]


def test_merge_sections_attribute_every_distinct_answer() -> None:
    decision = merge_sections(ARITHMETIC, clustering_of(ARITHMETIC))
    text = decision.content
    assert text.startswith("### Consensus (3 of 4: openai/gpt-4o, anthropic/claude-sonnet-4")
    assert "### Answer (1 of 4: groq/llama-3.1-8b-instant)\n\nThe answer is 48." in text
    assert decision.winner is None and decision.applied == "merge"


def test_judged_adds_the_judges_evidence() -> None:
    clustering = clustering_of(ARITHMETIC)
    judge = Voter("gemini/judge", "google", 0.85)
    decision = judged(ARITHMETIC, clustering, 3, judge)
    assert decision.winner == 3 and decision.chosen == 1
    # the judge backing a lone dissenter lifts it, but not above the three who agree
    assert decision.confidence(ARITHMETIC) < vote(ARITHMETIC, clustering).confidence(ARITHMETIC)
    assert decision.extra_evidence > 0


@pytest.mark.parametrize(
    ("text", "index"),
    [
        ('{"best": 2, "reason": "correct"}', 1),
        ('```json\n{"best": "3", "reason": "x"}\n```', 2),
        ('Let me think. {"reason": "the maths", "best": 1}', 0),
        ("best: 2", 1),
        ("Answer 3 is the best one.", 2),
    ],
)
def test_parse_verdict_reads_json_and_plain_forms(text: str, index: int) -> None:
    verdict = parse_verdict(text, 3)
    assert verdict is not None and verdict.index == index


@pytest.mark.parametrize(
    "text",
    ['{"best": 4}', '{"best": 0}', "Answers 1 and 2 are both fine", "", '{"best": "two"}'],
)
def test_parse_verdict_refuses_what_it_cannot_trust(text: str) -> None:
    assert parse_verdict(text, 3) is None


def test_judge_prompt_is_anonymous_and_bounded() -> None:
    messages = [ChatMessage(role="user", content="Q?")]
    request = judge_request(messages, ["short", "x" * (ANSWER_CHARS * 3)])
    prompt = request.messages[-1].text()
    assert "<answer number=1>\nshort\n</answer>" in prompt
    assert len(prompt) < ANSWER_CHARS * 2
    assert request.temperature == 0 and request.max_tokens


def test_synthesis_keeps_the_clients_output_limit() -> None:
    messages = [ChatMessage(role="user", content="Q?")]
    assert synthesis_request(messages, ["a", "b"], 123).max_tokens == 123
