"""The grading judge: its prompt, reading its verdict, and which model judges.

The judge sees the question, the rubric and two unlabelled answers (the candidate and the
reference) and scores each; :class:`~orchestra.evaluation.grading.Grader` asks it twice with
the order swapped. :func:`pick_judge` takes the best-rated served model of another maker than
every graded model (a model tends to prefer its own family's answers).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

from orchestra import markers
from orchestra.catalog.makers import maker_of
from orchestra.catalog.models import EMBEDDINGS, Catalog, load_snapshot
from orchestra.errors import UnknownModel
from orchestra.evaluation.records import Item

DEFAULT_RUBRIC = (
    "The answer is correct, answers what was asked, and states nothing false; style and "
    "length do not matter."
)
JUDGE_RULES = (
    "You are grading answers to a question. The answers are in no particular order and "
    "their authors are not named. Score each from 0 (wrong or useless) to 10 (fully "
    "correct), by the rubric."
)
JUDGE_REPLY = (
    'Reply with JSON only: {"scores": [<score of answer 1>, <score of answer 2>], '
    '"reason": "<one sentence>"}'
)
_SCORES = re.compile(r'"scores"\s*:\s*\[([^\]]*)\]')


def judge_prompt(item: Item, first: str, second: str) -> list[dict[str, str]]:
    """The judge's message: the question, the rubric, two unlabelled answers."""
    text = "\n\n".join(
        (
            JUDGE_RULES,
            markers.graded_question_block(item.question),
            f"Rubric: {item.rubric or DEFAULT_RUBRIC}",
            markers.candidate_block(1, first),
            markers.candidate_block(2, second),
            JUDGE_REPLY,
        )
    )
    return [{"role": "user", "content": text}]


def read_scores(text: str | None) -> tuple[float, float] | None:
    """The two scores of a judge's reply (JSON, or a ``"scores": [..]`` inside prose) on
    0..10: a reply whose scores are all <= 1 used a 0..1 scale, one with any > 10 a 0..100
    scale. None when there are not two finite numbers."""
    found = _SCORES.search(text or "")
    if found is None:
        return None
    try:
        scores = json.loads(f"[{found[1]}]")
    except json.JSONDecodeError:
        return None
    # NaN/Infinity parse as JSON here but are no score (and would not survive results.jsonl)
    if len(scores) < 2 or not all(_finite(s) for s in scores[:2]):
        return None
    raw = [float(s) for s in scores[:2]]
    scale = 10.0 if max(raw) <= 1 else 0.1 if max(raw) > 10 else 1.0
    first, second = (min(max(s * scale, 0.0), 10.0) for s in raw)
    return first, second


def _finite(score: object) -> bool:
    return isinstance(score, int | float) and not isinstance(score, bool) and math.isfinite(score)


def pick_judge(served: Sequence[Mapping[str, Any]], graded: Sequence[str]) -> str | None:
    """The best-rated chat model the gateway serves (``served``: its ``GET /v1/models``
    entries, ranked by their ``quality``; entries without one last, then in the order
    given) whose maker made none of ``graded``; None when every served model shares a
    maker with them. Routed names (``auto``) neither judge nor exclude anything."""
    ids = [str(m.get("id")) for m in served]
    taken = {maker_of(_served_id(g, ids)) for g in graded if not g.startswith("auto")}
    usable = [
        (index, entry)
        for index, entry in enumerate(served)
        if not ids[index].startswith("auto")
        and maker_of(ids[index]) not in taken
        and EMBEDDINGS not in (entry.get("capabilities") or ())
    ]
    if not usable:
        return None
    index, _ = max(usable, key=lambda pair: (_quality(pair[1]), -pair[0]))
    return ids[index]


def _quality(entry: Mapping[str, Any]) -> float:
    quality = entry.get("quality")
    if isinstance(quality, int | float) and not isinstance(quality, bool):
        return float(quality)
    return float("-inf")


def _served_id(model: str, ids: Sequence[str]) -> str:
    """A graded name as the gateway serves it: ``sim-large`` -> ``simulator/sim-large``
    (a served id ending in the name), else by the catalog's aliases (``gpt-4o``)."""
    if model in ids:
        return model
    ending = [i for i in ids if i.endswith(f"/{model}")]
    if ending:
        return ending[0]
    try:
        return _catalog().get(model).id
    except UnknownModel:
        return model


@lru_cache(maxsize=1)
def _catalog() -> Catalog:
    return load_snapshot()
