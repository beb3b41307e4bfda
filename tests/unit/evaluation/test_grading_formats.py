"""Grading real models' answer formats: which golds are numbers, which final answer counts,
LaTeX, choice phrasings, yes/no golds, and the key self-consistency votes on."""

from __future__ import annotations

import pytest

from orchestra.evaluation.grading import answer_key, check, gold_number, vote_key
from orchestra.evaluation.records import Item, Sample
from orchestra.evaluation.voting import vote


def exact(gold: str) -> Item:
    return Item(id="g", kind="exact", question="What?", answer=gold)


PLANETS = Item(
    id="c", kind="choice", question="Largest planet?", answer="B", choices=["Mars", "Jupiter"]
)


@pytest.mark.parametrize(
    ("gold", "value"),
    [
        ("18", 18.0),
        ("$18", 18.0),
        ("18.5", 18.5),
        ("1,000", 1000.0),
        ("18 dollars", 18.0),
        ("50%", 50.0),
        ("-3", -3.0),
        ("3/4", 0.75),
        ("Windows 10", None),
        ("June 1944", None),
        ("COVID-19", None),
        ("H2O", None),
        ("B12", None),
        ("10 Downing Street", None),
    ],
)
def test_a_gold_is_a_number_only_when_it_is_wholly_one(gold, value):
    assert gold_number(gold) == value


@pytest.mark.parametrize(
    ("gold", "reply", "right"),
    [
        # the reviewer's cases: a gold containing a number is compared as text
        ("Windows 10", "The answer is macOS 10.", False),
        ("Windows 10", "The answer is Windows 10.", True),
        ("June 1944", "The answer is May 1944.", False),
        ("June 1944", "The answer is June 1944.", True),
        ("COVID-19", "The answer is SARS-19.", False),
        ("COVID-19", "The answer is covid-19.", True),
        ("H2O", "The answer is 2.", False),
        ("B12", "The answer is vitamin D12.", False),
        # numeric golds still compare by value
        ("$18", "The answer is 18.", True),
        ("50%", "The answer is 50%.", True),
        ("18 dollars", "The answer is $18.00", True),
    ],
)
def test_golds_holding_a_number_are_not_graded_on_that_number(gold, reply, right):
    assert check(exact(gold), reply)[0] is right


@pytest.mark.parametrize(
    ("gold", "reply", "expected"),
    [
        # a later marker without a readable answer does not override the answer
        ("18", "The answer is 18.\n\nThis answer is reasonable because 9 * 2 = 18.", "18"),
        ("18", "9 * 2 = 18. The answer is 18.\n\nThe answer is in dollars.", "18"),
        ("18", "My answer is based on 9 eggs.\n\nThe answer is 18.", "18"),
        ("18", "The answer is 18. My answer is based on 9 eggs sold at 2 dollars.", "18"),
        # still strict: the only marked answer is hedged, no fallback to the last number
        ("18", "She makes 9 * 2 = 18. The answer is 17 or 18.", None),
        # LaTeX grouping and spacing
        ("1000", "The answer is 1{,}000.", "1000"),
        ("1000", "The answer is $1\\,000$.", "1000"),
        ("1000", "\\boxed{1,\\!000}", "1000"),
        ("1000", "\\boxed{1\\;000}", "1000"),
        ("1000", "$\\boxed{1\\ 000}$", "1000"),
        ("1000", "\\boxed{\\text{1000 dollars}}", "1000"),
        ("0.75", "\\boxed{\\frac{3}{4}}", "0.75"),
        ("0.75", "The answer is $\\dfrac{3}{4}$.", "0.75"),
        ("0.75", "So the share is \\tfrac{3}{4}", "0.75"),
        ("-0.75", "\\boxed{-\\frac{3}{4}}", "-0.75"),
    ],
)
def test_the_last_readable_final_answer_counts(gold, reply, expected):
    right, extracted = check(exact(gold), reply)
    assert extracted == expected and right is (expected is not None)


@pytest.mark.parametrize(
    ("reply", "letter"),
    [
        ("I would choose option B.", "B"),
        ("Both fit, but I choose B because it is larger.", "B"),
        ("The correct answer is B) Jupiter", "B"),
        ("After comparing sizes:\n\n**B**", "B"),
        ("**B. Jupiter**", "B"),
        ("The answer is (B). This answer is reasonable.", "B"),
        ("The answer is Jupiter.", "B"),
        ("Answer: A", "A"),
        ("I choose a different approach: the answer is (B).", "B"),
        ("The answer is A dog.", None),
        ("The answer is (E).", None),
    ],
)
def test_choice_phrasings_read_as_the_letter(reply, letter):
    right, extracted = check(PLANETS, reply)
    assert extracted == letter and right is (letter == "B")


@pytest.mark.parametrize(
    ("gold", "reply", "right"),
    [
        ("yes", "The answer is yes, because the sum is even.", True),
        ("yes", "The answer is Yes.", True),
        ("no", "The answer is yes, because the sum is even.", False),
        ("true", "The answer is true, since 4 is even.", True),
        # only yes/no golds accept a phrase that merely starts with the gold
        ("Paris", "The answer is Paris, the capital.", False),
        ("Paris", "The answer is Paris.", True),
    ],
)
def test_a_final_phrase_starting_with_the_gold_counts_only_for_yes_no(gold, reply, right):
    assert check(exact(gold), reply)[0] is right


def test_answer_key_is_what_the_grader_reads():
    assert answer_key(exact("18"), "She makes 9 * 2 = $18 per day") == "num:18"
    assert answer_key(exact("18"), "The answer is 17 or 18.") is None
    assert answer_key(PLANETS, "I would choose option B.") == "B"
    assert answer_key(exact("yes"), "The answer is yes, because...") == "bool:yes"
    assert vote_key(Item(id="j", kind="judge", question="q", answer="a")) is None


def test_self_consistency_votes_on_the_graders_reading():
    # Given three unmarked replies the grader reads as 18 and two marked 20
    replies = ["So 9 * 2 = $18 per day"] * 3 + ["The answer is 20."] * 2
    samples = [Sample(model="m", answer=r) for r in replies]
    # When they are voted on the grader's key
    ballot = vote(samples, key=vote_key(exact("18")))
    # Then 18 wins, 3 of 5, and the winner grades right
    assert ballot.winner is not None and ballot.share == pytest.approx(0.6)
    assert check(exact("18"), ballot.winner.answer) == (True, "18")


def test_a_bold_capital_is_a_choice_marker_only_for_choice_items():
    reply = "**A** farmer sells 9 eggs at 2 dollars each, which makes 18 dollars a day."
    assert check(exact("18"), reply) == (True, "18")
