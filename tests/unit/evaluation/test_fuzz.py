"""Fuzzing the evaluation's inputs: specs, dataset files, the results file, replies and the
statistics. Each parser must either accept its input or refuse it with its own typed error
(a user's typo must never surface as a traceback), and the statistics keep their invariants
on any counts. Examples stay few (< 5 s per test): these guard the edges, the example-based
tests guard the figures."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from orchestra.evaluation import datasets, grading, stats, strategies
from orchestra.evaluation.datasets import DatasetError
from orchestra.evaluation.records import Grade, Item, Outcome, Result, Sample
from orchestra.evaluation.results import ResultsFile

FAST = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

VALID_SPECS = [
    "sim-large",
    "auto",
    "auto:cheap",
    "openai/gpt-4o-mini",
    "sample(sim-large)",
    "sc(sim-small, k=3, temperature=0)",
    "sample(sim-large, k=64, temperature=2)",
    "panel(sim-large, sim-medium, sim-small)",
    "panel(sim-large, sim-small, fusion=judge, judge=sim-medium)",
    "panel(a, fusion=merge)",
    "debate(sim-large, sim-medium, rounds=1, threshold=1)",
    "debate(a, b, c, d, e, f, rounds=10, threshold=0.01, judge=j)",
]
SPEC_PIECES = (
    "( ) = , . : - _ / \t \n a k m s 0 1 2 9 sample panel debate sc k= fusion= judge= rounds="
)
SPEC_ALPHABET = st.sampled_from(
    [*SPEC_PIECES.split(" "), " ", "nan", "inf", "1e9", "-1", "threshold=", "temperature="]
)


def _parse_or_refuse(spec: str) -> strategies.Strategy | None:
    try:
        return strategies.parse(spec)
    except ValueError:
        return None


def _assert_canonical(parsed: strategies.Strategy) -> None:
    again = strategies.parse(parsed.spec)
    assert again == parsed
    assert strategies.parse(again.spec).spec == parsed.spec


@FAST
@given(st.text(max_size=60))
def test_any_text_parses_to_a_strategy_or_a_value_error(spec: str) -> None:
    parsed = _parse_or_refuse(spec)
    if parsed is not None:
        _assert_canonical(parsed)


@FAST
@given(
    st.sampled_from(VALID_SPECS),
    st.lists(st.tuples(st.integers(0, 80), st.integers(0, 3), SPEC_ALPHABET), max_size=4),
)
def test_mutated_specs_parse_or_are_refused_and_canonical_specs_round_trip(
    spec: str, edits: list[tuple[int, int, str]]
) -> None:
    # Given a valid spec with a few characters inserted, replaced or deleted
    for at, cut, text in edits:
        at = min(at, len(spec))
        spec = spec[:at] + text + spec[at + cut :]
    # When it is parsed, Then it is a strategy whose canonical spec is stable, or refused
    parsed = _parse_or_refuse(spec)
    if parsed is not None:
        _assert_canonical(parsed)


@pytest.mark.parametrize("spec", VALID_SPECS)
def test_every_valid_spec_round_trips(spec: str) -> None:
    _assert_canonical(strategies.parse(spec))


# --- datasets ---------------------------------------------------------------------------

JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**40), max_value=10**40)
    | st.floats(allow_nan=False)
    | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)
FIELDS = st.fixed_dictionaries(
    {},
    optional={
        "question": JSON_VALUES | st.text(min_size=1, max_size=30),
        "answer": JSON_VALUES | st.sampled_from(["#### 18", "B", "(a)", "1,000", "####"]),
        "choices": JSON_VALUES | st.lists(st.text(max_size=6), min_size=1, max_size=9),
        "grader": JSON_VALUES | st.sampled_from(["exact", "choice", "judge", "rubric"]),
        "rubric": JSON_VALUES,
        "id": JSON_VALUES,
    },
)
LINES = st.one_of(
    FIELDS.map(json.dumps),
    JSON_VALUES.map(json.dumps),
    st.binary(max_size=30).map(lambda b: b.decode("latin-1")),
    st.sampled_from(["", "   ", "{", "[1e999999]", '{"question": "\\ud800"}']),
)


def _load_or_refuse(tmp_path: Path, raw: bytes) -> None:
    path = tmp_path / "fuzz.jsonl"
    path.write_bytes(raw)
    try:
        dataset = datasets.load(str(path), limit=3)
    except DatasetError:
        return
    assert 1 <= len(dataset.items) <= 3 <= dataset.total or len(dataset.items) == dataset.total
    for item in dataset.items:
        assert item.question.strip() and item.answer


@FAST
@given(st.lists(LINES, min_size=0, max_size=6))
@example(['{"question": "q", "answer": 1e400}'])
@example(['{"question": "q", "answer": "1", "choices": ["a", "b"], "id": 10000000000000000000000}'])
def test_dataset_lines_load_or_raise_dataset_error(tmp_path: Path, lines: list[str]) -> None:
    _load_or_refuse(tmp_path, "\n".join(lines).encode("utf-8", "surrogatepass"))


@FAST
@given(st.binary(max_size=200))
@example(b"\xff\xfe{}")
@example(b'{"question": "q", "answer": "1"}\n\x80')
def test_dataset_bytes_load_or_raise_dataset_error(tmp_path: Path, raw: bytes) -> None:
    _load_or_refuse(tmp_path, raw)


def test_a_number_of_more_than_4300_digits_is_a_dataset_error(tmp_path: Path) -> None:
    # json.loads raises a plain ValueError (not JSONDecodeError) past sys.int_info's limit
    line = '{"question": "q", "answer": ' + "9" * 5000 + "}"
    (tmp_path / "big.jsonl").write_text(line)
    with pytest.raises(DatasetError):
        datasets.load(str(tmp_path / "big.jsonl"))


# --- the results file -------------------------------------------------------------------


def _result(index: int) -> Result:
    outcome = Outcome(
        answer=f"The answer is {index}. ünïcode ✓",
        samples=[Sample(model="sim-large", answer=str(index), correct=True)],
    )
    grade = Grade(correct=True, score=1.0, extracted=str(index))
    return Result(strategy="sim-large", item=f"q{index}", outcome=outcome, grade=grade, at=1.0)


def test_a_results_file_torn_at_every_byte_of_its_last_line_keeps_the_whole_lines(
    tmp_path: Path,
) -> None:
    # Given a results file of three whole lines
    whole = ResultsFile(tmp_path / "whole")
    whole.out_dir.mkdir()
    whole._fd = os.open(whole.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    for index in range(3):
        whole.append(_result(index))
    whole.close()
    data = whole.path.read_bytes()
    last = data.rstrip(b"\n").rfind(b"\n") + 1
    for cut in range(last, len(data)):
        # When the file ends at byte ``cut`` of its last line (a crash mid-write)
        torn = ResultsFile(tmp_path / f"cut{cut}")
        torn.out_dir.mkdir()
        torn.path.write_bytes(data[:cut])
        # Then the two whole lines load, the torn one is dropped and cut off the file
        assert sorted(torn.load()) == [("sim-large", "q0"), ("sim-large", "q1")]
        assert torn.path.read_bytes() == data[:last]
        # And an append after it reads back whole
        torn._fd = os.open(torn.path, os.O_WRONLY | os.O_APPEND)
        torn.append(_result(2))
        torn.close()
        assert torn.load() == whole.load()


# --- grading ----------------------------------------------------------------------------

ITEMS = [
    Item(id="n", kind="exact", question="q", answer="18"),
    Item(id="f", kind="exact", question="q", answer="-0.5"),
    Item(id="t", kind="exact", question="q", answer="Paris"),
    Item(id="c", kind="choice", question="q", answer="B", choices=["x", "y", "z"]),
]
REPLY_PIECES = "The answer is|\\boxed{|}|(B)|1,000|1e999|-|$|####|18|.|nan|inf|½|٣|(|option"
REPLIES = st.one_of(
    st.none(),
    st.text(max_size=80),
    st.lists(
        st.sampled_from([*REPLY_PIECES.split("|"), "\n", " "]),
        max_size=12,
    ).map("".join),
    st.just("9" * 400 + ".5"),
)


@FAST
@given(st.sampled_from(ITEMS), REPLIES)
@example(ITEMS[0], "The answer is 1e999.")
@example(ITEMS[1], "The answer is " + "9" * 400)
def test_check_never_raises(item: Item, reply: str | None) -> None:
    correct, extracted = grading.check(item, reply)
    assert isinstance(correct, bool)
    assert extracted is None or isinstance(extracted, str)


# --- statistics -------------------------------------------------------------------------

COUNTS = st.integers(min_value=0, max_value=400)


@FAST
@given(COUNTS, COUNTS)
def test_wilson_interval_holds_the_observed_share(a: int, b: int) -> None:
    correct, n = min(a, b), max(a, b)
    low, high = stats.wilson(correct, n)
    p = correct / n if n else 0.5
    assert 0.0 <= low <= p <= high <= 1.0


@FAST
@given(COUNTS, COUNTS)
def test_mcnemar_is_a_symmetric_probability(b: int, c: int) -> None:
    p = stats.mcnemar(b, c)
    assert 0.0 <= p <= 1.0
    assert p == stats.mcnemar(c, b)
    if b == c:
        assert p == 1.0


CONFIDENCES = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False) | st.floats(0, 1)


@FAST
@given(st.lists(st.tuples(CONFIDENCES, st.booleans()), max_size=60))
def test_calibration_scores_stay_between_zero_and_one(pairs: list[tuple[float, bool]]) -> None:
    result = stats.calibration(pairs)
    assert 0.0 <= result.ece <= 1.0
    assert 0.0 <= result.brier <= 1.0
    assert sum(b.n for b in result.table) == result.n == len(pairs)
    for row in result.table:
        if row.n:
            assert row.confidence is not None and row.accuracy is not None
            assert row.low - 1e-9 <= row.confidence <= row.high + 1e-9
            assert 0.0 <= row.accuracy <= 1.0


@FAST
@given(st.lists(st.floats(-1e9, 1e9), min_size=1, max_size=30), st.floats(0, 100))
def test_percentile_lies_within_the_values(values: list[float], q: float) -> None:
    value = stats.percentile(values, q)
    assert min(values) <= value <= max(values)


@FAST
@given(st.lists(st.tuples(st.floats(0, 1), st.booleans()), max_size=40))
def test_agreement_levels_partition_the_answers(pairs: list[tuple[float, bool]]) -> None:
    levels = stats.by_agreement(pairs)
    assert sum(level.n for level in levels) == len(pairs)
    assert [lv.agreement for lv in levels] == sorted({lv.agreement for lv in levels})
    assert all(0.0 <= level.accuracy <= 1.0 for level in levels)
