"""Grading: prompts, exact match by value, choice letters, the judge with the order swapped."""

from __future__ import annotations

import json
from typing import Any

import pytest

from orchestra import markers
from orchestra.errors import GatewayCallFailed
from orchestra.evaluation.grading import Grader, GradingError, check, prompt_messages
from orchestra.evaluation.judging import pick_judge, read_scores
from orchestra.evaluation.protocols import Reply
from orchestra.evaluation.records import Item, Outcome, Sample

NUMBER = Item(id="n", kind="exact", question="How much?", answer="1000")
EIGHTEEN = Item(id="e", kind="exact", question="How much?", answer="18")
WORD = Item(id="w", kind="exact", question="Capital of France?", answer="Paris")
CHOICE = Item(id="c", kind="choice", question="Capital?", answer="B", choices=["Lyon", "Paris"])
OPEN = Item(id="o", kind="judge", question="Explain tides.", answer="The Moon's pull.", rubric="r")


@pytest.mark.parametrize(
    ("item", "answer", "expected"),
    [
        (NUMBER, "$1,000.00", (True, "1000")),
        (NUMBER, "The answer is 1,000.", (True, "1000")),
        (NUMBER, "\\boxed{1000}", (True, "1000")),
        (NUMBER, "The answer is 999.", (False, "999")),
        (EIGHTEEN, "18 dollars", (True, "18")),
        (EIGHTEEN, "The answer is 18.", (True, "18")),
        (EIGHTEEN, "\\boxed{18}", (True, "18")),
        (EIGHTEEN, "Final answer: $18.00", (True, "18")),
        (EIGHTEEN, "The answer is 9 * 2 = 18.", (True, "18")),
        # no final-answer marker: the last number of the reply (GSM8K practice)
        (
            EIGHTEEN,
            "She sells 9 eggs a day at 2 dollars each, so she makes 18 every day.",
            (True, "18"),
        ),
        (
            EIGHTEEN,
            "She sells 9 eggs a day at 2 dollars each and I cannot tell you more than that.",
            (False, "2"),
        ),
        (
            EIGHTEEN,
            "I do not know, honestly, there is not enough information given here.",
            (False, None),
        ),
        (EIGHTEEN, None, (False, None)),
        (EIGHTEEN, "   ", (False, None)),
        (WORD, "The answer is PARIS.", (True, "PARIS")),
        (WORD, "paris", (True, "paris")),
        (WORD, "The answer is Lyon.", (False, "Lyon")),
        (CHOICE, "The answer is (B).", (True, "B")),
        (CHOICE, "b", (True, "B")),
        (CHOICE, "The answer is Paris.", (True, "B")),
        (
            CHOICE,
            "Option A looks tempting but (A) is a trap; on reflection (B) fits the question.",
            (True, "B"),
        ),
        (CHOICE, "The answer is (A).", (False, "A")),
        (CHOICE, "The answer is (E).", (False, None)),
    ],
)
def test_check_reads_numbers_units_casing_and_letters(item, answer, expected):
    assert check(item, answer) == expected


def gold(answer: str) -> Item:
    return Item(id="g", kind="exact", question="How many?", answer=answer)


@pytest.mark.parametrize(
    ("answer", "reply", "expected"),
    [
        # GSM8K-style replies from real models
        ("18", "**Answer:** 18", (True, "18")),
        ("18", "\\boxed{18}", (True, "18")),
        ("18", "The answer is $18.", (True, "18")),
        ("18", "18 eggs", (True, "18")),
        ("18", "Janet sells 16 - 3 - 4 = 9 eggs.\n9 * 2 = 18\n#### 18", (True, "18")),
        ("18", "She makes 9 * 2 = $18 every day.\n\n**Final Answer:** $\\boxed{18}$", (True, "18")),
        ("18", "The answer is 9 * 2 = 18.", (True, "18")),
        ("18", "The answer is 18 (9 eggs at $2).", (True, "18")),
        ("18", "The answer is eighteen.", (True, "18")),
        # a leading point, signed words, spaced thousands
        ("0.5", "The answer is .5", (True, "0.5")),
        ("5", "The answer is .5", (False, "0.5")),
        ("-3", "The answer is negative 3.", (True, "-3")),
        ("-3", "The answer is minus 3.", (True, "-3")),
        ("-3", "The answer is \u22123.", (True, "-3")),
        ("1000", "The answer is 1 000.", (True, "1000")),
        ("1000", "The answer is 1\u202f000 dollars.", (True, "1000")),
        ("2", "The answer is 5 minus 3 = 2.", (True, "2")),
        # a hedged final answer is no answer
        ("5", "The answer is 5 or 6.", (False, None)),
        ("6", "The answer is 5 or 6.", (False, None)),
        ("20", "The answer is between 10 and 20.", (False, None)),
        ("10", "The answer is 10-20.", (False, None)),
        ("18", "#### 18 or 19", (False, None)),
        # a marker whose phrase has no single number: no fallback to the reply's last number
        (
            "18",
            "She earns 9 * 2 = 18 a day. The answer is unclear from the question.",
            (False, None),
        ),
        # no marker at all: the last number (GSM8K practice), signed
        (
            "-3",
            "The temperature falls from 4 to 1, then by 4 more, which leaves \u22123",
            (True, "-3"),
        ),
        (
            "18",
            "Janet sells 9 eggs at 2 dollars each, which makes 18 in all, every day.",
            (True, "18"),
        ),
    ],
)
def test_exact_grading_is_strict_like_a_careful_grader(answer, reply, expected):
    assert check(gold(answer), reply) == expected


async def test_a_judge_reply_with_nan_scores_is_a_grading_failure():
    # Given a judge replying NaN for the answer in both orders
    judge = FakeJudge(reply='{"scores": [NaN, NaN]}')
    # Then grading fails (the runner keeps the answer ungraded, graded again on a rerun)
    with pytest.raises(GatewayCallFailed) as failed:
        await Grader(judge, "j").grade(OPEN, Outcome(answer="x"), ["m"])
    assert (failed.value.status, failed.value.code) == (502, "invalid_judge_reply")


def test_prompts_put_the_question_first_and_say_how_to_end():
    exact, choice, judge = (prompt_messages(i)[0]["content"] for i in (EIGHTEEN, CHOICE, OPEN))
    assert exact.startswith("How much?\n\n") and "'The answer is X.'" in exact
    assert "A. Lyon\nB. Paris" in choice and "'The answer is (X).'" in choice
    assert judge == "Explain tides."
    assert prompt_messages(EIGHTEEN)[0]["role"] == "user"


async def test_exact_grades_also_mark_each_sample():
    outcome = Outcome(
        answer="The answer is 18.",
        samples=[
            Sample(model="a", answer="18"),
            Sample(model="b", answer="The answer is 19."),
            Sample(model="c", error="500 server_error: boom"),
        ],
    )
    grade = await Grader().grade(EIGHTEEN, outcome, ["a"])
    assert (grade.correct, grade.score, grade.extracted) == (True, 1.0, "18")
    assert [s.correct for s in outcome.samples] == [True, False, None]


class FakeJudge:
    """A ChatClient whose judge scores by position: first answer ``first``, second ``second``,
    or by content when ``by_text`` maps an answer to its score."""

    def __init__(
        self,
        first: float = 9,
        second: float = 3,
        by_text: dict[str, int] | None = None,
        reply: str | None = None,
    ) -> None:
        self.first, self.second, self.by_text, self.reply = first, second, by_text, reply
        self.bodies: list[dict[str, Any]] = []

    async def chat(self, body: dict[str, Any]) -> Reply:
        self.bodies.append(body)
        prompt = body["messages"][-1]["content"]
        answers = markers.CANDIDATES.findall(prompt)
        if self.reply is not None:
            text = self.reply
        elif self.by_text is not None:
            text = json.dumps({"scores": [self.by_text[a] for a in answers], "reason": "r"})
        else:
            text = f'Here: {{"scores": [{self.first}, {self.second}], "reason": "r"}}'
        body_out = {"choices": [{"message": {"content": text}}]}
        return Reply(body_out, {"x-orchestra-cost-usd": "0.001"})


async def test_the_judge_sees_both_orders_and_the_score_is_their_mean():
    judge = FakeJudge(by_text={"Gravity of the Moon.": 8, "The Moon's pull.": 10})
    grade = await Grader(judge, "judge-model").grade(
        OPEN, Outcome(answer="Gravity of the Moon."), ["m"]
    )
    assert grade.orders == [0.8, 0.8] and grade.score == pytest.approx(0.8)
    assert grade.correct and grade.judge == "judge-model"
    assert (grade.calls, grade.cost_usd) == (2, pytest.approx(0.002))
    first, second = (b["messages"][0]["content"] for b in judge.bodies)
    assert markers.GRADING_MARK in first and "Rubric: r" in first
    assert markers.CANDIDATES.findall(first) == ["Gravity of the Moon.", "The Moon's pull."]
    assert markers.CANDIDATES.findall(second) == ["The Moon's pull.", "Gravity of the Moon."]
    assert all(b["model"] == "judge-model" and b["temperature"] == 0 for b in judge.bodies)


async def test_a_judge_favouring_the_first_position_is_averaged_out_and_visible():
    # Given a judge that scores whatever it sees first 9 and second 3
    grade = await Grader(FakeJudge(9, 3), "j").grade(OPEN, Outcome(answer="Anything."), ["m"])
    # Then the answer gets 0.9 shown first and 0.3 shown second: 0.6, under the pass mark
    assert grade.orders == [0.9, 0.3]
    assert grade.score == pytest.approx(0.6) and not grade.correct


@pytest.mark.parametrize("reply", ["I like both.", "9/10 and 9/10", "", '{"scores": [9]}'])
async def test_an_unreadable_verdict_is_a_retryable_grading_failure(reply):
    # Given a judge whose verdict holds no two readable scores
    with pytest.raises(GatewayCallFailed, match="no readable scores") as failed:
        await Grader(FakeJudge(reply=reply), "j").grade(OPEN, Outcome(answer="x"), ["m"])
    # Then it is not a score of 0 but a failure a rerun retries
    assert failed.value.retryable and failed.value.code == "invalid_judge_reply"


@pytest.mark.parametrize(
    ("reply", "orders"),
    [
        ('{"scores": [0.8, 0.3]}', [0.8, 0.3]),  # a 0..1 scale
        ('{"scores": [85, 30]}', [0.85, 0.3]),  # a 0..100 scale
        ('{"scores": [9, 3]}', [0.9, 0.3]),  # 0..10, as asked
    ],
)
async def test_the_judge_scale_is_read_from_the_scores(reply, orders):
    grade = await Grader(FakeJudge(reply=reply), "j").grade(OPEN, Outcome(answer="x"), ["m"])
    # the fake replies the same to both orders: the answer is first, then second
    assert grade.orders == pytest.approx([orders[0], orders[1]])


async def test_the_judge_gets_room_to_think_by_default():
    judge = FakeJudge()
    await Grader(judge, "j").grade(OPEN, Outcome(answer="x"), ["m"])
    assert {b["max_tokens"] for b in judge.bodies} == {1024}


async def test_no_answer_is_wrong_without_a_judge_call():
    judge = FakeJudge()
    grade = await Grader(judge, "j").grade(OPEN, Outcome(error="500 x: y"), ["m"])
    assert (grade.correct, grade.score, grade.calls) == (False, 0.0, 0) and judge.bodies == []


async def test_the_judge_is_picked_from_another_maker_when_not_given():
    judge = FakeJudge(by_text={"The Moon's pull.": 10})
    served = [served_model("simulator/sim-large", 1200), served_model("simulator/sim-medium", 1100)]
    grader = Grader(judge, available=served)
    grade = await grader.grade(OPEN, Outcome(answer="The Moon's pull."), ["sim-large"])
    assert grade.judge == "simulator/sim-medium" and grade.correct


async def test_judge_items_without_any_judge_are_a_clear_error():
    with pytest.raises(GradingError, match="--judge"):
        await Grader(FakeJudge()).grade(OPEN, Outcome(answer="x"), ["m"])
    with pytest.raises(GradingError):
        await Grader(None, "j").grade(OPEN, Outcome(answer="x"), ["m"])


def served_model(model: str, quality: float | None = None, *caps: str) -> dict[str, Any]:
    """A ``GET /v1/models`` entry as the gateway lists it."""
    entry: dict[str, Any] = {"id": model, "object": "model", "capabilities": list(caps)}
    if quality is not None:
        entry["quality"] = quality
    return entry


def test_pick_judge_prefers_the_best_rated_served_model_of_another_maker():
    served = [
        served_model("openai/gpt-4o-mini", 1300),
        served_model("anthropic/claude-sonnet-4-5", 1400),
        served_model("openai/gpt-4o", 1450),
    ]
    assert pick_judge(served, ["gpt-4o-mini"]) == "anthropic/claude-sonnet-4-5"
    assert pick_judge(served[2:], ["openai/gpt-4o-mini"]) is None
    # simulated models each count as their own maker; embedding models and routes never judge
    sims = [
        served_model("simulator/sim-small", 1100),
        served_model("simulator/sim-embed", 1500, "embeddings"),
        served_model("simulator/sim-large", 1300),
        served_model("simulator/sim-medium", 1200),
        {"id": "auto:quality", "object": "model", "owned_by": "orchestra"},
    ]
    assert pick_judge(sims, ["sim-large"]) == "simulator/sim-medium"
    assert pick_judge(sims, ["sim-medium", "auto"]) == "simulator/sim-large"
    # entries without a quality rank last, in the order given
    assert (
        pick_judge([served_model("local/a"), served_model("local/b")], ["sim-large"]) == "local/a"
    )


def test_pick_judge_ranks_by_what_the_gateway_serves_not_the_local_catalog():
    # Given a gateway whose catalog rates sim-small above sim-medium (the local snapshot
    # rates them the other way round)
    served = [served_model("simulator/sim-medium", 1000), served_model("simulator/sim-small", 1600)]
    # Then its best-rated model judges
    assert pick_judge(served, ["sim-large"]) == "simulator/sim-small"


@pytest.mark.parametrize(
    ("text", "scores"),
    [
        ('{"scores": [9, 2], "reason": "x"}', (9.0, 2.0)),
        ('Sure.\n```json\n{"scores": [7.5, 11]}\n```', (0.75, 1.1)),
        ('{"scores": [0.8, 0.3]}', (8.0, 3.0)),
        ('{"scores": [1, 0]}', (10.0, 0.0)),
        ('{"scores": [100, 40]}', (10.0, 4.0)),
        ('{"scores": [-2, 5]}', (0.0, 5.0)),
        ('{"scores": [9]}', None),
        ('{"scores": ["high", "low"]}', None),
        # NaN / Infinity parse as JSON but are no score (results.jsonl could not hold them)
        ('{"scores": [NaN, 2]}', None),
        ('{"scores": [9, Infinity]}', None),
        ('{"scores": [-Infinity, 2]}', None),
        ('{"scores": [true, false]}', None),
        ("9 and 2", None),
        (None, None),
    ],
)
def test_read_scores(text, scores):
    assert read_scores(text) == (scores if scores is None else pytest.approx(scores))


class SimulatedJudge:
    """The simulator's engine as the ChatClient: its oracle knows the item's reference."""

    def __init__(self, engine: Any) -> None:
        self.engine = engine

    async def chat(self, body: dict[str, Any]) -> Reply:
        from orchestra.schemas.chat import ChatRequest

        text = self.engine.answer(body["model"], ChatRequest(**body))
        return Reply({"choices": [{"message": {"content": text}}]})


async def test_the_simulator_answers_the_grading_prompt_by_its_oracle(tmp_path):
    from orchestra.simulator import SimulatorEngine
    from orchestra.simulator.oracle import Oracle

    path = tmp_path / "open.jsonl"
    path.write_text(json.dumps({"question": OPEN.question, "answer": OPEN.answer, "rubric": "r"}))
    engine = SimulatorEngine(7, oracle=Oracle.load(path), accuracy={"sim-large": 1.0})
    grader = Grader(SimulatedJudge(engine), "sim-large")
    right = await grader.grade(OPEN, Outcome(answer="The Moon's pull."), ["sim-small"])
    wrong = await grader.grade(OPEN, Outcome(answer="Because of the wind."), ["sim-small"])
    assert (right.correct, right.orders) == (True, [0.9, 0.9])
    assert (wrong.correct, wrong.orders) == (False, [0.2, 0.2])
