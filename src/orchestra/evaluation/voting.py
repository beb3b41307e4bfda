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
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from orchestra.evaluation.records import Sample
from orchestra.fusion.agreement import cluster
from orchestra.fusion.answers import normalize


@dataclass(frozen=True)
class Ballot:
    """A vote's result: the winning sample (None when nothing answered) and its share."""

    winner: Sample | None
    share: float


def vote(samples: Sequence[Sample]) -> Ballot:
    """The majority of the samples that answered (failed or empty ones do not vote)."""
    answered = [s for s in samples if s.error is None and s.answer and s.answer.strip()]
    if not answered:
        return Ballot(None, 0.0)
    clustering = cluster([normalize(s.answer or "") for s in answered])
    return Ballot(answered[clustering.medoid(0)], len(clustering.largest()) / len(samples))
