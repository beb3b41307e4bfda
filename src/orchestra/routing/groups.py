"""A model's deployments in a chain: kept adjacent, and counted once.

Routing ranks models, but a chain holds deployments (``Candidate.group`` says whose): each
group's run stays together right after its best-ranked deployment, so fallback tries a
model's other deployments before the next model, and the chain is cut by models.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from orchestra.routing.router import Candidate


def adjacent(candidates: list[Candidate]) -> list[Candidate]:
    """``candidates`` (best first) with each group's deployments moved right after its
    best-ranked one, in their own order."""
    runs: dict[str, list[Candidate]] = {}
    for candidate in candidates:
        if candidate.group:
            runs.setdefault(candidate.group, []).append(candidate)
    if not runs:
        return candidates
    placed: list[Candidate] = []
    for candidate in candidates:
        if not candidate.group:
            placed.append(candidate)
        elif (run := runs.pop(candidate.group, None)) is not None:
            placed.extend(run)
    return placed


def first_models(candidates: list[Candidate], limit: int) -> list[Candidate]:
    """The head of the chain holding at most ``limit`` models: a model's deployments (one
    group's adjacent run) count once."""
    models, last_group = 0, None
    for i, candidate in enumerate(candidates):
        if not candidate.group or candidate.group != last_group:
            models += 1
            if models > limit:
                return candidates[:i]
        last_group = candidate.group or None
    return candidates
