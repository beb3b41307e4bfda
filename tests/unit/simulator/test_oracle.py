"""The simulator's oracle: dataset questions answered right at each model's accuracy."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import pytest

from orchestra import markers
from orchestra.compose.core import _oracle_options
from orchestra.config import Settings
from orchestra.errors import InvalidRequest
from orchestra.evaluation import datasets
from orchestra.evaluation.grading import check, prompt_messages
from orchestra.providers.base import ProviderConfig
from orchestra.schemas.chat import ChatRequest
from orchestra.simulator import SIMULATED_MODELS, SimulatorEngine, SimulatorProvider
from orchestra.simulator.oracle import (
    Oracle,
    OracleError,
    choice_letter,
    distractors,
    parse_accuracy,
)

GSM8K = Path(datasets.__file__).parent / "data" / "gsm8k" / "test.jsonl"


@pytest.fixture(scope="module")
def oracle() -> Oracle:
    return Oracle.load(GSM8K)


@pytest.fixture(scope="module")
def items() -> list:
    return datasets.parse(GSM8K.read_bytes(), "gsm8k")


def _ask(text: str, seed: int | None = None) -> ChatRequest:
    return ChatRequest(model="m", messages=[{"role": "user", "content": text}], seed=seed)


def wilson(successes: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


def _accuracy(engine: SimulatorEngine, model: str, items: list) -> tuple[int, int]:
    right = 0
    for item in items:
        reply = engine.answer(model, _ask(prompt_messages(item)[0]["content"]))
        right += check(item, reply)[0]
    return right, len(items)


@pytest.mark.parametrize("model", sorted(SIMULATED_MODELS))
def test_measured_accuracy_falls_in_the_interval_of_the_configured_one(model, oracle, items):
    # Given every GSM8K question asked as evaluation asks it
    right, n = _accuracy(SimulatorEngine(7, oracle=oracle), model, items)
    # Then the configured accuracy lies in the measured rate's Wilson 95% interval
    low, high = wilson(right, n)
    assert n == 1319
    assert low <= SIMULATED_MODELS[model].accuracy <= high, (right, n)


def test_accuracy_overrides_replace_a_models_own(oracle, items):
    engine = SimulatorEngine(7, oracle=oracle, accuracy=parse_accuracy("sim-large=0.5"))
    right, n = _accuracy(engine, "sim-large", items)
    low, high = wilson(right, n)
    assert low <= 0.5 <= high


def test_the_oracle_gold_is_the_datasets_gold_on_every_bundled_question(oracle, items):
    assert [e.gold for e in oracle.entries] == [i.answer for i in items]


def test_choice_letters_read_the_same_way_as_the_datasets():
    choices = ["Lyon", "Paris", "Nice"]
    for answer in ("B", "(b)", 1, "paris", " Paris ", "D", 3, True, "Rome"):
        assert choice_letter(answer, choices) == datasets.choice_letter(answer, choices)


def test_lookup_is_fast_with_every_gsm8k_question(oracle, items):
    prompts = [prompt_messages(i)[0]["content"] for i in items]
    start = time.perf_counter()
    found = [oracle.find(p) for p in prompts]
    per_call = (time.perf_counter() - start) / len(prompts)
    assert all(f is not None for f in found)
    assert per_call < 0.001  # design target 0.1 ms; generous here for slow CI machines


def test_a_question_after_a_role_prefix_is_found(oracle, items):
    # fusion's judge re-asks the last user turn, written "USER: <text>"
    assert oracle.find(f"USER: {items[3].question}") is oracle.entries[3]
    assert oracle.find("What is 2 + 2?") is None


def test_wrong_numbers_are_near_distractors_never_the_gold():
    assert distractors(18) == [19, 17, 36, 28, 9, 180, 20]
    assert 0 not in distractors(0) and all(d >= 0 for d in distractors(0))


def test_wrong_answers_coincide_sometimes_so_votes_can_be_wrong(oracle, items):
    engine = SimulatorEngine(7, oracle=oracle, accuracy={"sim-small": 0.0, "sim-medium": 0.0})
    same = 0
    for item in items[:200]:
        prompt = prompt_messages(item)[0]["content"]
        a, b = (engine.answer(m, _ask(prompt)) for m in ("sim-small", "sim-medium"))
        assert not check(item, a)[0] and not check(item, b)[0]
        same += check(item, a)[1] == check(item, b)[1]
    assert 20 < same < 180


def test_the_seed_changes_the_draw_and_no_seed_keeps_it(oracle, items):
    engine = SimulatorEngine(7, oracle=oracle)
    prompt = prompt_messages(items[0])[0]["content"]
    unseeded = {engine.answer("sim-small", _ask(prompt)) for _ in range(3)}
    seeded = {engine.answer("sim-small", _ask(prompt, seed=s)) for s in range(20)}
    assert len(unseeded) == 1
    assert len(seeded) > 1


def test_prompts_without_an_oracle_question_are_answered_as_before(oracle):
    plain, with_oracle = SimulatorEngine(7), SimulatorEngine(7, oracle=oracle)
    for text in ("What is 17 * 23?", "What is the capital of France?", "hello there"):
        for model in SIMULATED_MODELS:
            assert with_oracle.answer(model, _ask(text)) == plain.answer(model, _ask(text))


def _jsonl(tmp_path: Path, rows: list[dict]) -> Path:
    path = tmp_path / "d.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\nnot json\n")
    return path


def test_choice_and_judge_items_get_another_letter_or_another_reference(tmp_path):
    path = _jsonl(
        tmp_path,
        [
            {"question": "Capital of Italy?", "choices": ["Rome", "Milan", "Turin"], "answer": 0},
            {"question": "Explain tides.", "answer": "The Moon's pull.", "grader": "judge"},
            {"question": "Why is the sky blue?", "answer": "Rayleigh scattering.", "rubric": "r"},
        ],
    )
    oracle = Oracle.load(path)
    assert [e.kind for e in oracle.entries] == ["choice", "text", "text"]
    right = SimulatorEngine(7, oracle=oracle, accuracy={"sim-large": 1.0})
    wrong = SimulatorEngine(7, oracle=oracle, accuracy={"sim-large": 0.0})
    assert right.answer("sim-large", _ask("Capital of Italy?")).endswith("The answer is (A).")
    assert wrong.answer("sim-large", _ask("Capital of Italy?"))[-4:-2] in ("(B", "(C")
    assert right.answer("sim-large", _ask("Explain tides.")) == "The Moon's pull."
    assert wrong.answer("sim-large", _ask("Explain tides.")) == "Rayleigh scattering."


def _grading_prompt(question: str, first: str, second: str) -> str:
    return "\n\n".join(
        (
            "Score these.",
            markers.graded_question_block(question),
            markers.candidate_block(1, first),
            markers.candidate_block(2, second),
        )
    )


def test_the_grading_judge_scores_by_the_gold(oracle, items):
    honest = SimulatorEngine(7, oracle=oracle, accuracy={"sim-large": 1.0})
    prompt = _grading_prompt(items[0].question, "The answer is 18.", "The answer is 19.")
    assert items[0].answer == "18"
    assert json.loads(honest.answer("sim-large", _ask(prompt)))["scores"] == [9, 2]
    liar = SimulatorEngine(7, oracle=oracle, accuracy={"sim-large": 0.0})
    assert json.loads(liar.answer("sim-large", _ask(prompt)))["scores"] == [2, 9]


def test_the_grading_judge_without_the_question_scores_agreement():
    engine = SimulatorEngine(7)
    agree = _grading_prompt("Unknown?", "The answer is 4.", "4")
    differ = _grading_prompt("Unknown?", "The answer is 4.", "5")
    assert json.loads(engine.answer("sim-large", _ask(agree)))["scores"] == [8, 8]
    assert json.loads(engine.answer("sim-large", _ask(differ)))["scores"] == [4, 4]


def test_fusions_judge_re_asks_the_question_through_the_oracle(oracle, items):
    engine = SimulatorEngine(7, oracle=oracle, accuracy={"sim-large": 1.0})
    prompt = (
        markers.conversation_block(f"USER: {items[0].question}")
        + "\n\n"
        + markers.candidate_block(1, "The answer is 19.")
        + "\n"
        + markers.candidate_block(2, "The answer is 18.")
    )
    assert json.loads(engine.answer("sim-large", _ask(prompt)))["best"] == 2


def test_the_provider_reads_the_oracle_and_accuracy_options(tmp_path):
    path = _jsonl(tmp_path, [{"question": "How many legs has a cat?", "answer": "#### 4"}])
    options = {"latency_scale": 0, "oracle": str(path), "accuracy": "sim-small=1"}
    provider = SimulatorProvider(
        ProviderConfig(name="simulator", type="simulator", options=options)
    )
    text = provider.engine.answer("sim-small", _ask("How many legs has a cat?\n\nThink."))
    assert text.endswith("The answer is 4.")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("sim-large=1.5", "between 0 and 1"),
        ("sim-large", "MODEL=P"),
        ("sim-large=high", "MODEL=P"),
        ("gpt-4o=0.5", "unknown model"),
    ],
)
def test_a_bad_accuracy_setting_fails_at_start_up_naming_it(text, message):
    # an InvalidRequest: cli._build_services prints it as one line (no traceback)
    with pytest.raises(InvalidRequest, match=message) as raised:
        _oracle_options(Settings(simulator_accuracy=text))
    assert "ORCHESTRA_SIMULATOR_ACCURACY" in str(raised.value)


def test_settings_reach_the_simulator_options():
    settings = Settings(
        simulator_oracle="/tmp/x.jsonl", simulator_accuracy="simulator/sim-large=0.9"
    )
    assert _oracle_options(settings) == {
        "oracle": "/tmp/x.jsonl",
        "accuracy": "simulator/sim-large=0.9",
    }
    assert parse_accuracy("simulator/sim-large=0.9, sim-small=0.5") == {
        "sim-large": 0.9,
        "sim-small": 0.5,
    }
    assert _oracle_options(Settings()) == {}


def test_a_missing_oracle_file_is_a_clear_error(tmp_path):
    with pytest.raises(OracleError, match="simulator oracle"):
        Oracle.load(tmp_path / "absent.jsonl")
