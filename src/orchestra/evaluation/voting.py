"""The one vote over sampled answers: what ``sample(...)`` answers, what the report's
first-j-samples curve recomputes, and a debate round's majority.

One function, so the report's curve at j = k lands on the answer the strategy gave (two
votes that disagree on ties or phrasing would make the curve's last point differ from the
accuracy column). The vote is fusion's (:func:`orchestra.fusion.agreement.cluster` of
:func:`~orchestra.fusion.answers.normalize`d answers), as ``panel(..., fusion=vote)``
counts on the gateway: numbers by value, letters, booleans, similar free text together.
The largest cluster wins (ties: the cluster seen first) and answers with its most central
member (ties: the earliest); the agreement is that cluster's share of all the samples (an
empty or failed sample votes for nothing, as on the gateway, but still counts as asked).

With ``key`` (:func:`orchestra.evaluation.grading.vote_key`: exact and choice items), the
vote groups the samples by what the grader reads as their answer instead, so the vote and
the grade agree ("... = $18 per day" and "The answer is 18." are one answer). A sample the
grader reads no answer in stands alone; the largest group wins (ties: a readable one, then
the group seen first) and answers with its earliest member.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from orchestra.evaluation.records import Sample
from orchestra.fusion.agreement import cluster
from orchestra.fusion.answers import normalize


@dataclass(frozen=True)
class Ballot:
    """A vote's result: the winning sample (None when nothing answered) and its share."""

    winner: Sample | None
    share: float


def vote(samples: Sequence[Sample], key: Callable[[str], str | None] | None = None) -> Ballot:
    """The majority of the samples that answered (failed or empty ones do not vote): by
    ``key`` when given (the grader's reading), else by fusion's clusters."""
    answered = [s for s in samples if s.error is None and s.answer and s.answer.strip()]
    if not answered:
        return Ballot(None, 0.0)
    if key is not None:
        return _keyed(answered, key, len(samples))
    clustering = cluster([normalize(s.answer or "") for s in answered])
    return Ballot(answered[clustering.medoid(0)], len(clustering.largest()) / len(samples))


def _keyed(answered: Sequence[Sample], key: Callable[[str], str | None], asked: int) -> Ballot:
    groups: dict[object, list[int]] = {}
    for index, sample in enumerate(answered):
        read = key(sample.answer or "")
        groups.setdefault(read if read is not None else ("unread", index), []).append(index)
    best = max(groups.items(), key=lambda g: (len(g[1]), isinstance(g[0], str), -g[1][0]))[1]
    return Ballot(answered[best[0]], len(best) / asked)
