"""Debate prompts, stances, request validation and the store (memory and DynamoDB)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws
from pydantic import ValidationError

from orchestra.debate import prompts
from orchestra.debate.store import DebateStore, Outcome, Synthesis
from orchestra.schemas.chat import ChatMessage, Usage
from orchestra.schemas.debate import Debate, DebateRequest, RoundSummary, Turn
from orchestra.storage.dynamodb import DynamoDBDebateBackend
from orchestra.storage.memory import MemoryDebateBackend
from orchestra.storage.tables import create_tables


def _debate(**kw: Any) -> Debate:
    fields: dict[str, Any] = {
        "id": "dbt_" + "a" * 26,
        "question": [ChatMessage(role="user", content="What is 6 x 7?")],
        "participants": ["p/a", "p/b", "p/c"],
        "judge": "p/j",
        "max_rounds": 3,
        "threshold": 0.8,
        "turn_timeout_s": 30,
        "max_tokens": 256,
        "created_at": time.time(),
    }
    return Debate(**{**fields, **kw})


def test_summarise_keeps_short_answers_and_cuts_long_ones_to_opening_and_answer() -> None:
    assert prompts.summarise("  short  ") == "short"
    long = "Reasoning. " * 400 + "The answer is 42."
    cut = prompts.summarise(long)
    assert len(cut) <= prompts.SUMMARY_CHARS + 40 and cut.endswith("42") and "[...]" in cut


@pytest.mark.parametrize(
    ("text", "changed", "why", "answer"),
    [
        (
            "CHANGED: yes - 6 x 7 is 42.\nThe answer is 42.",
            True,
            "6 x 7 is 42.",
            "The answer is 42.",
        ),
        ("**CHANGED: no** because I am right\n41", False, "because I am right", "41"),
        ("changed: No.\n41", False, None, "41"),
        ("The answer is 42.", None, None, "The answer is 42."),
    ],
)
def test_read_stance(text: str, changed: Any, why: Any, answer: str) -> None:
    assert prompts.read_stance(text) == (changed, why, answer)


def test_revision_prompt_shows_the_others_latest_answers_and_own_previous() -> None:
    debate = _debate(
        turns=[
            Turn(round=1, participant="p/a", answer="42"),
            Turn(round=1, participant="p/b", answer="41"),
            Turn(round=1, participant="p/c", error="ServerError 500"),
        ],
        roles=["a sceptic", "an optimist", "a pedant"],
    )
    request = prompts.turn_request(debate, 2, "p/b")
    text = request.messages[-1].text()
    assert (
        "<your_answer>\n41\n</your_answer>" in text and '<answer from="participant 1">\n42' in text
    )
    assert "ServerError" not in text and "p/a" not in text  # anonymous, failures left out
    assert "CHANGED: yes" in text and "an optimist" in (request.messages[0].text())
    assert prompts.turn_request(debate, 1, "p/a").messages[1:] == debate.question


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "either 'question' or 'messages'"),
        ({"question": "q", "messages": [{"role": "user", "content": "q"}]}, "either"),
        ({"question": "q", "participants": 1}, "between 2 and 6"),
        ({"question": "q", "participants": ["a"]}, "2 to 6 participants"),
        ({"question": "q", "participants": ["a", "b"], "profile": "budget"}, "not with a list"),
        ({"question": "q", "roles": ["x"]}, "one role per participant"),
        ({"question": "q", "max_rounds": 11}, "less than or equal to 10"),
        ({"question": "q", "threshold": 0}, "greater than 0"),
        ({"question": "q", "surprise": 1}, "Extra inputs"),
    ],
)
def test_bad_debate_requests_are_refused(body: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        DebateRequest.model_validate(body)


@pytest.fixture(params=["memory", "dynamodb"])
def store(request: pytest.FixtureRequest) -> Iterator[DebateStore]:
    if request.param == "memory":
        yield DebateStore(MemoryDebateBackend())
        return
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        create_tables(client, {"debates": "debates"})
        yield DebateStore(DynamoDBDebateBackend("debates", client))


async def test_store_assembles_a_debate_from_its_documents(store: DebateStore) -> None:
    debate = _debate()
    stored, created = await store.create(debate)
    assert created and stored.id == debate.id
    again, created_again = await store.create(_debate(participants=["x/y", "x/z"]))
    assert not created_again and again.participants == debate.participants  # the first stands
    await store.add_turn(
        debate.id, Turn(round=1, participant="p/b", answer="41", usage=Usage.of(5, 2))
    )
    await store.add_turn(debate.id, Turn(round=1, participant="p/a", answer="42", cost_usd=0.5))
    await store.add_round(
        debate.id, RoundSummary(round=1, agreement=0.5, participants=["p/a", "p/b"])
    )
    await store.set_execution(debate.id, "arn:aws:states:us-east-1:1:execution:m:" + debate.id)
    await store.set_synthesis(debate.id, Synthesis(final_answer="42", cost_usd=0.25))
    await store.finish(debate.id, Outcome(status="SUCCEEDED"))
    loaded = await store.load(debate.id)
    assert loaded.status == "SUCCEEDED" and loaded.final_answer == "42"
    assert [t.participant for t in loaded.turns_of(1)] == ["p/a", "p/b"]
    assert loaded.active(2) == ["p/a", "p/b"] and loaded.active(1) == debate.participants
    assert loaded.cost_usd() == 0.75 and loaded.execution_arn is not None
    assert await store.get("dbt_" + "b" * 26) is None


async def test_a_retried_turn_replaces_its_own_record(store: DebateStore) -> None:
    debate = _debate()
    await store.create(debate)
    await store.add_turn(debate.id, Turn(round=1, participant="p/a", error="ServerError 500"))
    await store.add_turn(debate.id, Turn(round=1, participant="p/a", answer="42"))
    (turn,) = (await store.load(debate.id)).turns_of(1)
    assert turn.answer == "42" and turn.error is None


async def test_unknown_or_malformed_step_events_are_typed_errors() -> None:
    from orchestra.catalog.source import CatalogSource
    from orchestra.debate.steps import DebateSteps
    from orchestra.errors import DebateFailed

    steps = DebateSteps(DebateStore(MemoryDebateBackend()), CatalogSource(), fanout=None)  # type: ignore[arg-type]
    with pytest.raises(DebateFailed, match="unknown debate step"):
        await steps.run({"step": "dance", "debate_id": "dbt_x"})
    with pytest.raises(DebateFailed, match="no round number"):
        await steps.run({"step": "converge", "debate_id": "dbt_x"})


def test_summarise_keeps_an_answer_of_exactly_the_limit_and_cuts_to_fit_it() -> None:
    exact = "x" * prompts.SUMMARY_CHARS
    assert prompts.summarise(exact) == exact
    long = "Reasoning goes here. " * 200 + "The answer is 42."
    cut = prompts.summarise(long)
    head, final = cut.split(" [...] ")
    assert final.endswith("42") and len(head) == prompts.SUMMARY_CHARS - len(final) - 20
    tiny = prompts.summarise("y" * 600 + " The answer is 42.", 210)
    assert len(tiny.split(" [...] ")[0]) == 200  # the opening is never cut below 200


def test_the_judge_sees_the_last_round_whole_and_answers_within_its_budget() -> None:
    long = "Step. " * 800 + "The answer is 42."  # over one summary, under four
    turns = [
        Turn(round=2, participant="p/a", answer=long),
        Turn(round=2, participant="p/b", answer="41"),
    ]
    request = prompts.synthesis_request(_debate(), turns, 0.5)
    text = request.messages[-1].text()
    assert request.max_tokens == prompts.SYNTHESIS_MAX_TOKENS and request.temperature == 0.2
    assert "The debate ended after round 2 with 50% agreement." in text
    assert long.strip() in text and '<answer from="p/b">\n41\n</answer>' in text


def test_turns_use_the_debates_settings_and_say_when_there_was_no_answer() -> None:
    debate = _debate(
        temperature=0.3,
        max_tokens=300,
        turns=[
            Turn(round=1, participant="p/a", answer="42"),
            Turn(round=1, participant="p/b", error="ServerError 500"),
        ],
    )
    first = prompts.turn_request(debate, 1, "p/a")
    assert (first.temperature, first.max_tokens, first.model) == (0.3, 300, "p/a")
    revision = prompts.turn_request(debate, 2, "p/b").messages[-1].text()
    assert "<your_answer>\n(you gave no answer)\n</your_answer>" in revision
