"""Execution records the answer's finish reason and votes samples on the grader's reading."""

from __future__ import annotations

import json
from typing import Any

import httpx

from orchestra.evaluation.client import GatewayClient
from orchestra.evaluation.execute import Executor, _panel
from orchestra.evaluation.protocols import Reply
from orchestra.evaluation.records import Item
from orchestra.evaluation.strategies import parse

EIGHTEEN = Item(id="e", kind="exact", question="How much?", answer="18")


def _chat(text: str, finish: str) -> dict[str, Any]:
    message = {"role": "assistant", "content": text}
    return {"model": "m", "choices": [{"message": message, "finish_reason": finish}]}


def _gateway(replies: dict[int, tuple[str, str]]) -> GatewayClient:
    """A gateway answering each chat call by its ``seed`` (sample j is seed j)."""

    def handler(request: httpx.Request) -> httpx.Response:
        seed = json.loads(request.content)["seed"]
        return httpx.Response(200, json=_chat(*replies[seed]))

    http = httpx.AsyncClient(transport=httpx.MockTransport(handler), base_url="http://eval")
    return GatewayClient(http)


async def test_a_single_answer_cut_at_max_tokens_says_so() -> None:
    gateway = _gateway({0: ("She sells 9 eggs at", "length")})
    outcome = await Executor(gateway).run(parse("sim-large"), EIGHTEEN)
    assert outcome.finish_reason == "length"


async def test_samples_vote_on_the_graders_reading_and_keep_the_winners_finish() -> None:
    # Given three unmarked replies ending "= $18 per day" and two marked "The answer is 20."
    unmarked = ("Janet sells 9 eggs, so 9 * 2 = $18 per day", "stop")
    marked = ("The answer is 20.", "length")
    gateway = _gateway({0: marked, 1: unmarked, 2: marked, 3: unmarked, 4: unmarked})
    # When sample(k=5) runs
    outcome = await Executor(gateway).run(parse("sample(sim-large, k=5)"), EIGHTEEN)
    # Then the grader's 18 wins 3 of 5, with the winning sample's finish reason
    assert outcome.answer == unmarked[0] and outcome.agreement == 0.6
    assert outcome.finish_reason == "stop"


def test_a_panel_reports_its_reply_or_its_winners_finish_reason() -> None:
    results = [
        {"model": "a", "status": "ok", "answer": "18", "finish_reason": "stop"},
        {"model": "b", "status": "ok", "answer": "1", "finish_reason": "length"},
    ]
    with_choices = {**_chat("18", "length"), "results": results, "winner": "a"}
    assert _panel(Reply(with_choices, {})).finish_reason == "length"
    without = {"results": results, "winner": "b"}
    assert _panel(Reply(without, {})).finish_reason == "length"
    assert _panel(Reply({"results": results, "winner": None}, {})).finish_reason is None
