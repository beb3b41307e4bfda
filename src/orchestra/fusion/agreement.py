"""Agreement between answers: similarity, clusters, and a confidence that means something.

Similarity (0..1) of two normalised answers (:mod:`orchestra.fusion.answers`):

* both structured (number, choice, boolean): 1 when the values are equal, else 0 (numbers
  with a relative tolerance of 1e-6), so "41" and "42" never agree however alike they look;
  a structured answer against a different structured kind is 0;
* otherwise lexical: rapidfuzz ``token_set_ratio`` of the folded texts (a short answer
  agrees with a sentence that contains it: "Paris" / "The capital of France is Paris"),
  averaged with ``token_sort_ratio`` when both are long texts, so an essay that merely
  contains the other's words does not count as the same answer.

Clusters: answers are taken in order; each joins the cluster it is most similar to on
average when that average reaches the threshold (default 0.8), else starts a new one.

Confidence (see :func:`confidence`): the posterior probability that the chosen cluster's
answer is right, under a naive-Bayes model of independent voters.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from orchestra.fusion.answers import Normalized

STRUCTURED = frozenset({"number", "choice", "boolean"})
DEFAULT_THRESHOLD = 0.8
#: quality (arena rating) mapped to a model's chance of being right: a fixed scale, so a
#: model's weight does not move when the catalog grows
QUALITY_LOW, QUALITY_HIGH = 1100.0, 1500.0
ACCURACY_LOW, ACCURACY_HIGH = 0.55, 0.9
#: the weight of a further model from the same maker in one cluster (correlated errors)
SAME_MAKER_WEIGHT = 0.5


def similarity(a: Normalized, b: Normalized) -> float:
    if a.kind in STRUCTURED or b.kind in STRUCTURED:
        if a.kind != b.kind:
            return 0.0
        if a.value is not None and b.value is not None:
            return 1.0 if math.isclose(a.value, b.value, rel_tol=1e-6, abs_tol=1e-9) else 0.0
        return 1.0 if a.key == b.key else 0.0
    if not a.key or not b.key:
        return 1.0 if a.key == b.key else 0.0
    from rapidfuzz import fuzz  # 10 ms to import: loaded by the first lexical comparison

    score = fuzz.token_set_ratio(a.key, b.key)
    if a.kind == "text" and b.kind == "text":
        score = (score + fuzz.token_sort_ratio(a.key, b.key)) / 2
    return float(score) / 100.0


@dataclass(frozen=True)
class Voter:
    """One successful answer as evidence: who gave it and how far to trust them."""

    model: str
    maker: str
    accuracy: float


def accuracy_of(quality: float) -> float:
    """A model's prior chance of being right, from its catalog quality."""
    share = (quality - QUALITY_LOW) / (QUALITY_HIGH - QUALITY_LOW)
    return ACCURACY_LOW + (ACCURACY_HIGH - ACCURACY_LOW) * min(max(share, 0.0), 1.0)


@dataclass(frozen=True)
class Clustering:
    """Answers grouped by agreement; ``clusters`` hold answer indexes, largest first."""

    clusters: list[list[int]]
    matrix: list[list[float]]

    @property
    def answers(self) -> int:
        return sum(len(c) for c in self.clusters)

    def largest(self) -> list[int]:
        return self.clusters[0] if self.clusters else []

    def cluster_of(self, index: int) -> int:
        return next(i for i, c in enumerate(self.clusters) if index in c)

    def share(self, cluster: int) -> float:
        """The agreement figure: this cluster's share of all answers (0..1)."""
        return len(self.clusters[cluster]) / self.answers if self.answers else 0.0

    def medoid(self, cluster: int, weights: Sequence[float] | None = None) -> int:
        """The cluster's most central answer (ties: higher weight, then earlier)."""
        members = self.clusters[cluster]

        def centrality(i: int) -> tuple[float, float, int]:
            total = sum(self.matrix[i][j] for j in members if j != i)
            return (total, weights[i] if weights else 0.0, -i)

        return max(members, key=centrality)


def cluster(
    answers: Sequence[Normalized],
    threshold: float = DEFAULT_THRESHOLD,
    evidence: Sequence[float] | None = None,
) -> Clustering:
    """Group answers; clusters ordered by size, then by ``evidence`` (summed), then first seen."""
    n = len(answers)
    matrix = [[1.0] * n for _ in range(n)]
    for i in range(n):
        for j in range(i + 1, n):
            matrix[i][j] = matrix[j][i] = similarity(answers[i], answers[j])
    groups: list[list[int]] = []
    for i in range(n):
        best, best_mean = None, threshold
        for g, members in enumerate(groups):
            mean = sum(matrix[i][j] for j in members) / len(members)
            if mean >= best_mean:
                best, best_mean = g, mean
        if best is None:
            groups.append([i])
        else:
            groups[best].append(i)
    weight = evidence or [0.0] * n
    groups.sort(key=lambda g: (-len(g), -sum(weight[i] for i in g), g[0]))
    return Clustering(groups, matrix)


def log_odds(voters: Sequence[Voter]) -> float:
    """Summed log-odds of a group of voters; a maker's further members count half."""
    seen: set[str] = set()
    total = 0.0
    for voter in voters:
        p = min(max(voter.accuracy, 0.01), 0.99)
        weight = 1.0 if voter.maker not in seen else SAME_MAKER_WEIGHT
        seen.add(voter.maker)
        total += weight * math.log(p / (1.0 - p))
    return total


def confidence(
    clustering: Clustering, voters: Sequence[Voter], chosen: int, extra: float = 0.0
) -> float:
    """P(the chosen cluster's answer is right | the answers seen).

    Each model is right with probability ``p_i`` (from its quality) and wrong answers
    rarely coincide. Under a uniform prior over "the right answer is cluster c's" and "it is
    none of them", cluster c's posterior weight is ``exp(s_c)`` with
    ``s_c = sum over c's voters of w_i * ln(p_i / (1 - p_i))`` (the "none" hypothesis has
    weight ``exp(0) = 1``), so::

        confidence = exp(s_chosen) / (1 + sum over clusters c of exp(s_c))

    i.e. the chosen cluster's share of the total weight. A lone model scores its own
    accuracy; two independent models at 0.75 that agree score 0.9, three score 0.96; two
    that disagree score 0.43 each; models from the same maker agreeing count half
    (``w = 0.5`` after the first). ``extra`` adds evidence for the chosen cluster, e.g. a
    judge's own log-odds when it picked that answer (``s_chosen`` then includes it).
    """
    if not clustering.clusters:
        return 0.0
    scores = [log_odds([voters[i] for i in members]) for members in clustering.clusters]
    scores[chosen] += extra
    top = max(max(scores), 0.0)
    weights = [math.exp(s - top) for s in scores]
    none = math.exp(-top)
    return weights[chosen] / (none + sum(weights))
