"""The converge step's stop rule: agreement reaching the threshold, or the last round."""

from __future__ import annotations

import time
from typing import Any

import pytest

from orchestra.catalog.source import CatalogSource
from orchestra.debate.steps import DebateFailed, DebateSteps
from orchestra.debate.store import DebateStore
from orchestra.schemas.chat import ChatMessage
from orchestra.schemas.debate import Debate, Turn
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
