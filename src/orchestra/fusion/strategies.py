"""The fusion strategies as pure functions: answers in (in arrival order), a decision out.

* :func:`vote`: the largest cluster's most central answer.
* :func:`rank`: each answer scored on catalog quality, length and cost-efficiency.
* :func:`first`: the first answer that arrived.
* :func:`merge_sections`: one answer made of attributed sections, consensus first (the
  model-written merge lives in the service: it needs a call).
* :func:`judged`: the answer a judge picked (parsing its verdict: ``prompts.parse_verdict``).

Every decision also carries the clustering, so agreement and confidence are computed the
same way whatever the strategy (see :mod:`orchestra.fusion.agreement`).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field

from orchestra.catalog.makers import maker_of
from orchestra.catalog.models import ModelInfo
from orchestra.fusion.agreement import (
    DEFAULT_THRESHOLD,
    Clustering,
    Voter,
    accuracy_of,
    cluster,
    confidence,
    log_odds,
)
from orchestra.fusion.answers import Normalized, normalize
from orchestra.routing.scorer import cost_score

#: rank: how much each part weighs
RANK_WEIGHTS = {"quality": 0.6, "length": 0.2, "cost": 0.2}
#: rank: an answer cut off by max_tokens keeps this share of its length score
TRUNCATED_PENALTY = 0.5


@dataclass(frozen=True)
class Answer:
    """One successful answer and what fusion needs to know about its author."""

    model: ModelInfo
    text: str
    normalized: Normalized
    voter: Voter
    finish_reason: str | None = None

    @classmethod
    def of(cls, model: ModelInfo, text: str, finish_reason: str | None = None) -> Answer:
        voter = Voter(model.id, maker_of(model.id), accuracy_of(model.quality))
        return cls(model, text, normalize(text), voter, finish_reason)


@dataclass
class Decision:
    applied: str
    content: str
    clustering: Clustering
    #: the chosen answer's index (None: a merge of several)
    winner: int | None
    #: the cluster whose answer was chosen (None: no cluster stands for the answer)
    chosen: int | None
    scores: dict[int, float] = field(default_factory=dict)
    note: str | None = None
    #: evidence beyond the voters (a judge's log-odds), added to the chosen cluster
    extra_evidence: float = 0.0

    def agreement(self) -> float:
        target = self.chosen if self.chosen is not None else 0
        return round(self.clustering.share(target), 4) if self.clustering.clusters else 0.0

    def confidence(self, answers: Sequence[Answer]) -> float:
        target = self.chosen if self.chosen is not None else 0
        voters = [a.voter for a in answers]
        return round(confidence(self.clustering, voters, target, self.extra_evidence), 4)


def clustering_of(answers: Sequence[Answer], threshold: float = DEFAULT_THRESHOLD) -> Clustering:
    evidence = [log_odds([a.voter]) for a in answers]
    return cluster([a.normalized for a in answers], threshold, evidence)


def _pick(answers: Sequence[Answer], clustering: Clustering, index: int, applied: str) -> Decision:
    chosen = clustering.cluster_of(index)
    return Decision(applied, answers[index].text, clustering, index, chosen)


def vote(answers: Sequence[Answer], clustering: Clustering) -> Decision:
    weights = [a.voter.accuracy for a in answers]
    return _pick(answers, clustering, clustering.medoid(0, weights), "vote")


def first(answers: Sequence[Answer], clustering: Clustering) -> Decision:
    return _pick(answers, clustering, 0, "first")


def rank_scores(answers: Sequence[Answer]) -> dict[int, float]:
    """quality (fixed arena scale) 0.6 + length vs the median answer 0.2 + cost 0.2."""
    lengths = [max(len(a.text.strip()), 1) for a in answers]
    median = statistics.median(lengths)
    scores = {}
    for i, answer in enumerate(answers):
        quality = (answer.voter.accuracy - 0.55) / 0.35
        length = math.exp(-abs(math.log(lengths[i] / median)))
        if answer.finish_reason == "length":
            length *= TRUNCATED_PENALTY
        cost = cost_score(answer.model.blended_price())
        parts = {"quality": quality, "length": length, "cost": cost}
        scores[i] = round(sum(RANK_WEIGHTS[k] * v for k, v in parts.items()), 4)
    return scores


def rank(answers: Sequence[Answer], clustering: Clustering) -> Decision:
    scores = rank_scores(answers)
    best = max(scores, key=lambda i: (scores[i], -i))
    decision = _pick(answers, clustering, best, "rank")
    decision.scores = scores
    return decision


def merge_sections(answers: Sequence[Answer], clustering: Clustering) -> Decision:
    """Each distinct answer once, attributed to the models that gave it, most shared first."""
    if len(clustering.clusters) == 1:
        decision = vote(answers, clustering)
        decision.applied = "merge"
        decision.note = "every model gave the same answer: it is returned as is"
        return decision
    total = clustering.answers
    weights = [a.voter.accuracy for a in answers]
    sections = []
    for c, members in enumerate(clustering.clusters):
        names = ", ".join(answers[i].model.id for i in members)
        label = "Consensus" if c == 0 and len(members) > 1 else "Answer"
        text = answers[clustering.medoid(c, weights)].text.strip()
        sections.append(f"### {label} ({len(members)} of {total}: {names})\n\n{text}")
    return Decision("merge", "\n\n".join(sections), clustering, None, 0)


def judged(answers: Sequence[Answer], clustering: Clustering, index: int, judge: Voter) -> Decision:
    decision = _pick(answers, clustering, index, "judge")
    decision.extra_evidence = log_odds([judge])
    return decision
