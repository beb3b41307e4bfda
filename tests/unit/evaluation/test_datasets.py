"""Datasets: the bundled GSM8K, JSONL item kinds, a seeded order, errors naming file:line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from orchestra.evaluation.datasets import DatasetError, gold_of, load


def _file(tmp_path: Path, *lines: object) -> Path:
    path = tmp_path / "mine.jsonl"
    path.write_text(
        "\n".join(x if isinstance(x, str) else json.dumps(x) for x in lines) + "\n", "utf-8"
    )
    return path


def test_gsm8k_is_bundled_with_its_licence_and_1319_questions():
    dataset = load("gsm8k")
    folder = Path(dataset.path).parent
    assert dataset.name == "gsm8k" and dataset.total == len(dataset.items) == 1319
    assert "Permission is hereby granted" in (folder / "LICENSE").read_text()
    assert (folder / "PROVENANCE.md").exists()
    first = next(i for i in dataset.items if i.id == "L1")
    assert first.kind == "exact" and first.answer == "18" and first.question.startswith("Janet")


def test_the_same_seed_gives_the_same_sample_and_another_seed_another():
    a, b, c = (
        load("gsm8k", limit=20, seed=1),
        load("gsm8k", limit=20, seed=1),
        load("gsm8k", limit=20, seed=2),
    )
    assert [i.id for i in a.items] == [i.id for i in b.items] != [i.id for i in c.items]
    assert len(a.items) == 20 and a.total == 1319
    assert a.fingerprint == c.fingerprint and len(a.fingerprint) == 16


def test_the_three_item_kinds_and_ids(tmp_path):
    path = _file(
        tmp_path,
        {"question": "2+2?", "answer": 4},
        {"id": "cap", "question": "Capital?", "choices": ["Lyon", "Paris"], "answer": "paris"},
        {"question": "Pick", "choices": ["x", "y", "z"], "answer": 2, "extra": "ignored"},
        "",
        {"question": "Pick", "choices": ["x", "y"], "answer": "(b)"},
        {"question": "Explain.", "answer": "Because.", "grader": "judge"},
        {"question": "Why?", "answer": "So.", "rubric": "Mentions X.", "id": 7},
        {"question": "Sum?", "answer": "1 + 1 = 2\n#### 1,002"},
    )
    dataset = load(str(path))
    by_id = {i.id: i for i in dataset.items}
    assert dataset.name == "mine" and dataset.total == 7
    assert by_id["L1"].kind == "exact" and by_id["L1"].answer == "4"
    assert (by_id["cap"].kind, by_id["cap"].answer) == ("choice", "B")
    assert by_id["L3"].answer == "C" and by_id["L5"].answer == "B"
    assert by_id["L6"].kind == "judge" and by_id["L6"].rubric is None
    assert (by_id["7"].kind, by_id["7"].rubric) == ("judge", "Mentions X.")
    assert by_id["L8"].answer == "1002"


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", ":2: not JSON"),
        ("[1, 2]", ":2: expected a JSON object"),
        ({"answer": "1"}, ":2: field 'question'"),
        ({"question": "q"}, ":2: field 'answer' is missing"),
        ({"question": "q", "answer": "A", "choices": ["only"]}, ":2: field 'choices'"),
        (
            {"question": "q", "answer": "C", "choices": ["a", "b"]},
            ":2: field 'answer' must be a letter A-B",
        ),
        ({"question": "q", "answer": 5, "choices": ["a", "b"]}, ":2: field 'answer'"),
        ({"question": "q", "answer": "x", "grader": "vibes"}, ":2: field 'grader'"),
        ({"question": "q", "answer": "x", "rubric": 3}, ":2: field 'rubric'"),
        ({"question": "q", "answer": {"a": 1}}, ":2: field 'answer' must be a string"),
        ({"question": "q", "answer": "steps ####  "}, ":2: field 'answer' is empty after '####'"),
        ({"question": "q", "answer": "1", "id": "L1"}, ":2: id 'L1' repeats line 1"),
        ({"question": "q", "answer": "1", "id": True}, ":2: field 'id'"),
    ],
)
def test_a_bad_line_names_the_file_the_line_and_the_field(tmp_path, line, message):
    path = _file(tmp_path, {"question": "ok", "answer": "1"}, line)
    with pytest.raises(DatasetError, match=message) as raised:
        load(str(path))
    assert str(raised.value).startswith(f"{path}:2:")


def test_missing_empty_and_limit_errors(tmp_path):
    with pytest.raises(DatasetError, match=r"no such file .*gsm8k"):
        load(str(tmp_path / "absent.jsonl"))
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n\n")
    with pytest.raises(DatasetError, match="no items"):
        load(str(empty))
    with pytest.raises(DatasetError, match="--limit"):
        load("gsm8k", limit=0)


def test_gold_after_the_last_marker():
    assert gold_of("a #### 3 #### 4") == "4"
    assert gold_of("#### -2.5") == "-2.5"
    assert gold_of("Paris") == "Paris"
    assert gold_of("#### 1,000 apples") == "1,000 apples"
