"""Answer normalisation: one answer phrased many ways gives one key; different answers never do."""

from __future__ import annotations

import pytest

from orchestra.fusion.answers import normalize, parse_number

FORTY_TWO = [
    "42",
    "42.",
    "The answer is 42.",
    "**42**",
    "\\boxed{42}",
    "The final answer is: **42**.\nLet me know if you need the steps.",
    "Answer: 42",
    "42.0",
    "forty-two",
    "Forty two.",
    "The answer is 42 because 6 x 7 = 42.",
    "6 x 7 = 42",
    "So 6*7 is 42, and the answer is 42.",
    "It is 42.",
    "The result is 42.",
    "$42",
]


@pytest.mark.parametrize("text", FORTY_TWO)
def test_numeric_answers_phrased_differently_share_one_key(text: str) -> None:
    answer = normalize(text)
    assert answer.kind == "number"
    assert answer.value == 42.0
    assert answer.key == "num:42"


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("The answer is 41 because 6 x 7 = 42.", 41.0),
        ("1,000", 1000.0),
        ("The total is 1,234.5 dollars", 1234.5),
        ("3/4", 0.75),
        ("0.75", 0.75),
        ("-3", -3.0),
        ("\u22123", -3.0),
        ("two hundred and five", 205.0),
        ("12.5%", 12.5),
    ],
)
def test_numbers_are_read_by_value(text: str, value: float) -> None:
    assert normalize(text).value == pytest.approx(value)


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("B", "choice:B"),
        ("(B)", "choice:B"),
        ("b)", "choice:B"),
        ("Answer: (B)", "choice:B"),
        ("The answer is B.", "choice:B"),
        ("option C", "choice:C"),
        ("(c) Paris", "choice:C"),
        ("B. Paris", "choice:B"),
    ],
)
def test_multiple_choice_letters(text: str, key: str) -> None:
    answer = normalize(text)
    assert (answer.kind, answer.key) == ("choice", key)


@pytest.mark.parametrize(
    ("text", "key"),
    [("Yes.", "bool:yes"), ("yes, it is", "bool:yes"), ("True", "bool:yes"), ("No", "bool:no")],
)
def test_booleans(text: str, key: str) -> None:
    assert normalize(text).key == key


def test_an_article_is_not_a_choice_letter() -> None:
    assert normalize("A dog barks").kind == "short"


def test_short_answers_fold_case_punctuation_and_articles() -> None:
    assert normalize("The answer is Paris.").key == "paris"
    assert normalize("paris!").key == "paris"
    assert normalize("The Eiffel Tower").key == "eiffel tower"


def test_long_reply_without_a_marker_is_compared_as_text() -> None:
    essay = (
        "There are several factors to weigh here, including cost, latency and the quality "
        "of the answers, and in 2024 the picture changed when 3 vendors cut prices."
    )
    answer = normalize(essay)
    assert answer.kind == "text" and answer.value is None


def test_a_weak_marker_counts_only_with_a_number() -> None:
    text = "The result is that the economy grew a lot in the period we discuss, by far."
    assert normalize(text).kind == "text"


def test_several_numbers_without_a_clear_answer_are_not_guessed() -> None:
    assert parse_number("between 3 and 5") is None
    assert parse_number("Paris") is None


def test_empty_reply() -> None:
    answer = normalize("")
    assert answer.key == "" and answer.kind == "short"
