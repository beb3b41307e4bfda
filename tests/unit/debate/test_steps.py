"""The converge step's stop rule: agreement reaching the threshold, or the last round."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from orchestra.catalog.models import Catalog, ModelInfo
from orchestra.catalog.source import CatalogSource
from orchestra.debate.runner import caught
from orchestra.debate.steps import DebateFailed, DebateSteps
from orchestra.debate.store import DebateStore
from orchestra.errors import ServerError
from orchestra.panel.fanout import ModelRun
from orchestra.schemas.chat import AssistantMessage, ChatMessage, ChatResponse, Choice, Usage
from orchestra.schemas.debate import Debate, RoundSummary, Turn
from orchestra.storage.memory import MemoryDebateBackend

DEBATE_ID = "dbt_" + "c" * 26


async def _converge(answers: list[str | None], round_no: int = 1, **kw: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "id": DEBATE_ID,
        "question": [ChatMessage(role="user", content="What is 6 x 7?")],
        "participants": [f"p/{i}" for i in range(len(answers))],
        "judge": "p/j",
        "max_rounds": 3,
        "threshold": 0.8,
        "turn_timeout_s": 30,
        "max_tokens": 256,
        "created_at": time.time(),
    }
    store = DebateStore(MemoryDebateBackend())
    await store.create(Debate(**{**fields, **kw}))
    for i, answer in enumerate(answers):
        for r in range(1, round_no + 1):
            turn = Turn(round=r, participant=f"p/{i}", answer=answer)
            if answer is None:
                turn = Turn(round=r, participant=f"p/{i}", error="ServerError 500")
            await store.add_turn(DEBATE_ID, turn)
    steps = DebateSteps(store, CatalogSource(), fanout=None)  # type: ignore[arg-type]
    return await steps.converge(DEBATE_ID, round_no)


async def test_a_unanimous_round_stops_a_debate_whose_threshold_is_one() -> None:
    # Given threshold 1.0 and three identical answers in round 1 of 3
    result = await _converge(["42", "42", "42"], threshold=1.0)
    # Then agreement reaches the threshold exactly and the debate stops early
    assert result["agreement"] == 1.0 and result["stop"] is True


async def test_agreement_exactly_at_the_threshold_stops() -> None:
    result = await _converge(["42", "42", "17", "99"], threshold=0.5)
    assert result["agreement"] == 0.5 and result["stop"] is True


async def test_agreement_below_the_threshold_goes_on_until_the_last_round() -> None:
    result = await _converge(["42", "42", "17", "99"], threshold=0.75)
    assert result["agreement"] == 0.5 and result["stop"] is False
    assert result["participants"] == ["p/0", "p/1", "p/2", "p/3"]
    last = await _converge(["42", "17"], round_no=3, threshold=1.0)
    assert last["stop"] is True


async def test_failed_turns_are_not_survivors_and_two_answers_are_needed() -> None:
    result = await _converge(["42", None, "42"], threshold=1.0)
    assert result["participants"] == ["p/0", "p/2"] and result["stop"] is True
    with pytest.raises(DebateFailed, match="1 participant"):
        await _converge(["42", None, None])


class _Judge:
    """A fan-out whose one call is the judge's, answering or failing as told."""

    def __init__(self, run: Any) -> None:
        self.run = run

    async def call(self, model: Any, request: Any, timeout_s: float) -> Any:
        self.run.model = model
        return self.run


JUDGE = ModelInfo(id="p/j", context_window=100_000, input_price=1e-6, output_price=2e-6, quality=1)


async def _synthesize(run: Any) -> tuple[dict[str, Any], Debate]:
    store = DebateStore(MemoryDebateBackend())
    question = [ChatMessage(role="user", content="What is 6 x 7?")]
    debate = Debate(
        id=DEBATE_ID,
        question=question,
        participants=["p/0", "p/1", "p/2"],
        judge="p/j",
        max_rounds=3,
        threshold=0.9,
        turn_timeout_s=30,
        max_tokens=256,
        created_at=time.time(),
    )
    await store.create(debate)
    # round 1 leans to 17, round 2 (the last) to 42: the last round is the one that counts
    for round_no, answers in ((1, ["17", "17", "42"]), (2, ["42", "42", "17"])):
        for i, answer in enumerate(answers):
            await store.add_turn(
                DEBATE_ID, Turn(round=round_no, participant=f"p/{i}", answer=answer)
            )
        await store.add_round(
            DEBATE_ID,
            RoundSummary(round=round_no, agreement=0.67, participants=debate.participants),
        )
    steps = DebateSteps(store, CatalogSource(base=Catalog([JUDGE])), fanout=_Judge(run))
    result = await steps.synthesize(DEBATE_ID)
    return result, await store.load(DEBATE_ID)


async def test_the_judges_answer_is_the_final_one_and_its_cost_is_counted() -> None:
    answer = ChatResponse(
        model="j",
        choices=[Choice(message=AssistantMessage(content="  42, because 6 x 7 = 42.  "))],
        usage=Usage.of(100, 10),
    )
    result, debate = await _synthesize(ModelRun(JUDGE, status="ok", response=answer))
    assert result == {"ok": True}
    assert debate.final_answer == "42, because 6 x 7 = 42."
    assert debate.synthesis_cost_usd == pytest.approx(100 * 1e-6 + 10 * 2e-6)
    assert debate.synthesis_note is None


async def test_a_failed_judge_leaves_the_last_rounds_majority_and_says_so() -> None:
    error = ServerError("down", provider="p", model="p/j", upstream_status=500)
    result, debate = await _synthesize(ModelRun(JUDGE, status="error", error=error))
    assert result == {"ok": False}
    assert debate.final_answer == "42"
    assert (
        debate.synthesis_note
        == "the judge p/j failed (ServerError 500): the majority answer stands"
    )


async def test_nothing_to_synthesise_without_a_round() -> None:
    store = DebateStore(MemoryDebateBackend())
    steps = DebateSteps(store, CatalogSource(base=Catalog([JUDGE])), fanout=None)  # type: ignore[arg-type]
    await store.create(
        Debate(
            id=DEBATE_ID,
            question=[ChatMessage(role="user", content="q")],
            participants=["p/0", "p/1"],
            judge="p/j",
            max_rounds=3,
            threshold=0.9,
            turn_timeout_s=30,
            max_tokens=256,
            created_at=time.time(),
        )
    )
    with pytest.raises(DebateFailed, match="no round was completed"):
        await steps.synthesize(DEBATE_ID)


def test_records_expire_ttl_days_after_they_are_written() -> None:
    store = DebateStore(MemoryDebateBackend(), ttl_days=2, clock=lambda: 1_000.5)
    assert store._expires() == 1_000 + 2 * 86_400


@pytest.mark.parametrize(
    ("error", "cause"),
    [
        (
            lambda: caught(DebateFailed("round 2: 1 participant(s) answered")),
            "DebateFailed: round 2: 1 participant(s) answered",
        ),
        (
            lambda: {
                "Error": "States.TaskFailed",
                "Cause": '{"errorType": "DebateFailed", "errorMessage": "no judge"}',
            },
            "DebateFailed: no judge",
        ),
        (lambda: {"Error": "States.Timeout", "Cause": "no answer"}, "States.Timeout: no answer"),
        (
            lambda: {"Error": "Lambda.Unknown", "Cause": '{"errorMessage": "out of memory"}'},
            "Lambda.Unknown: out of memory",
        ),
        (lambda: {"Error": "States.Runtime"}, "States.Runtime"),
        (lambda: None, "unknown error"),
    ],
)
async def test_a_failed_debate_records_one_line_saying_why(
    error: Callable[[], Any], cause: str
) -> None:
    store = DebateStore(MemoryDebateBackend())
    await store.create(
        Debate(
            id=DEBATE_ID,
            question=[ChatMessage(role="user", content="q")],
            participants=["p/0", "p/1"],
            judge="p/j",
            max_rounds=3,
            threshold=0.9,
            turn_timeout_s=30,
            max_tokens=256,
            created_at=time.time(),
        )
    )
    steps = DebateSteps(store, CatalogSource(), fanout=None)  # type: ignore[arg-type]
    assert await steps.fail(DEBATE_ID, error()) == {"status": "FAILED"}
    debate = await store.load(DEBATE_ID)
    assert debate.status == "FAILED" and debate.error == cause
