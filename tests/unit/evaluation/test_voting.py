"""The one vote: what ``sample(...)`` answers is what the report's curve recounts."""

from __future__ import annotations

from typing import Any

import pytest

from orchestra.evaluation.execute import _panel, _vote
from orchestra.evaluation.protocols import Reply
from orchestra.evaluation.records import Outcome, Sample
from orchestra.evaluation.voting import vote


def samples(*answers: str | None) -> list[Sample]:
    return [Sample(model="m", answer=a) for a in answers]


@pytest.mark.parametrize(
    ("answers", "winner", "share"),
    [
        # numbers by value, however phrased
        (("The answer is 18.", "$18.00", "20"), "The answer is 18.", 2 / 3),
        # a tie goes to the cluster seen first, its earliest member
        (("20", "18", "20", "18"), "20", 0.5),
        # three singletons: the first
        (("18", "17", "16"), "18", 1 / 3),
        # an empty answer votes for nothing but counts as asked
        (("", "18", None), "18", 1 / 3),
        (("", None), None, 0.0),
    ],
)
def test_vote_takes_the_largest_cluster(answers, winner, share):
    ballot = vote(samples(*answers))
    assert (ballot.winner.answer if ballot.winner else None) == winner
    assert ballot.share == pytest.approx(share)


def test_failed_samples_do_not_vote() -> None:
    ballot = vote([Sample(model="m", error="503 x: y"), *samples("18")])
    assert ballot.winner is not None and ballot.winner.answer == "18"


def test_sample_strategy_answers_with_the_same_vote() -> None:
    # Given samples where an exact-key vote and fusion's clusters would differ on phrasing
    outcome = Outcome(samples=samples("20", "The answer is 18.", "18."))
    _vote(outcome)
    assert outcome.answer == "The answer is 18."
    assert outcome.agreement == outcome.confidence == pytest.approx(0.6667)


def _member(status: str, attempts: list[str] | None = None) -> dict[str, Any]:
    member: dict[str, Any] = {"model": "m", "status": status, "answer": "18"}
    if attempts is not None:
        member["attempts"] = attempts
    return member


def test_panel_calls_count_each_members_retries_and_fallbacks() -> None:
    # Given a panel whose first member took three attempts (two retries), one skipped,
    # one that reports no attempts, and a judge call
    body = {
        "results": [
            _member("ok", ["a:503", "a:503", "a:ok"]),
            _member("skipped", []),
            _member("error", ["b:500"]),
            _member("ok"),
        ],
        "fusion": {"judge": {"model": "j", "status": "ok"}},
    }
    outcome = _panel(Reply(body, {}))
    # Then calls = 3 + 0 + 1 + 1 (at least one per member asked) + 1 (the judge)
    assert outcome.calls == 6


def _by_number(text: str) -> str | None:
    """A stand-in for the grader's key: the text when it is digits, else unreadable."""
    return text if text.isdigit() else None


@pytest.mark.parametrize(
    ("answers", "winner", "share"),
    [
        # the keyed vote: a readable group beats unreadable singletons on a tie
        (("maybe", "18", "20"), "18", 1 / 3),
        (("20", "18", "18"), "18", 2 / 3),
        # nothing readable: the first answer, standing alone
        (("maybe", "perhaps"), "maybe", 1 / 2),
        (("", None), None, 0.0),
    ],
)
def test_a_keyed_vote_groups_by_the_key(answers, winner, share):
    ballot = vote(samples(*answers), key=_by_number)
    assert (ballot.winner.answer if ballot.winner else None) == winner
    assert ballot.share == pytest.approx(share)
