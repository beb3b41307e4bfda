"""What each item asks, and whether an answer is right: exact match, a letter, or a judge.

- **exact**: the reply's final answer (``#### ..``, ``\\boxed{..}``, "The answer is ..", a
  short reply: fusion's :func:`~orchestra.fusion.answers.normalize`) against the gold,
  numbers by value (``"$1,000.00"`` == ``"1000"``, ``"18 dollars"`` == ``"18"``, ``".5"`` ==
  ``"0.5"``, ``"minus 3"`` == ``"-3"``, ``"1 000"`` == ``"1000"``) and text by folded casing
  and punctuation. Strict like a careful grader: a final answer holding two different
  numbers (``"5 or 6"``, ``"between 10 and 20"``) is no answer, except an equation's result
  (``"9 * 2 = 18"``: the one number after the last ``=``); an aside in brackets is
  ignored. Only a reply without any final-answer marker is read by its last number: the
  usual GSM8K practice (Cobbe et al. 2021; lm-evaluation-harness' "flexible extract").
- **choice**: the letter of the final answer (``(B)``, ``B.``, ``option B``), or the
  choice whose text it restates, or the last ``(X)`` in the reply.
- **judge**: a model scores the answer and the reference 0..10, unlabelled, twice with the
  order swapped; the score is the mean of the answer's two scores / 10 (a judge favouring
  the first position helps and hurts each answer once), kept per order in ``orders`` so the
  bias stays visible. The judge is from another maker than the graded models when chosen
  by :func:`pick_judge` (a model tends to prefer its own family's answers).
"""

from __future__ import annotations

import asyncio
import json
import math
import re
from collections.abc import Mapping, Sequence
from fractions import Fraction
from functools import lru_cache
from typing import Any

from orchestra import markers
from orchestra.catalog.makers import maker_of
from orchestra.catalog.models import EMBEDDINGS, Catalog, load_snapshot
from orchestra.errors import UnknownModel
from orchestra.evaluation.protocols import ChatClient, Reply
from orchestra.evaluation.records import Grade, Item, Outcome
from orchestra.fusion.answers import fold, normalize, parse_number

LETTERS = "ABCDEFGH"
EXACT_INSTRUCTION = "Think step by step, then end with a line of the form 'The answer is X.'"
CHOICE_INSTRUCTION = (
    "Think step by step, then end with a line of the form 'The answer is (X).' where X is "
    "the letter of your choice."
)
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
#: one number: ``1,000`` (thousands by threes), ``.5``, ``-3``, ``3/4``; never inside a word
_NUMBER = re.compile(
    r"(?:(?<![\w).])[-+])?(?:(?:\d{1,3}(?:,\d{3})+(?!\d)|\d+)(?:\.\d+)?|\.\d+)"
    r"(?:\s*/\s*\d+(?![\d.]))?"
)
#: ``1 000`` / ``1\u202f000``: thousands separated by a (thin, no-break) space
_SPACED = re.compile(r"(?<![\d.,])\d{1,3}(?:[ \u00a0\u2009\u202f]\d{3})+(?![\d,]|\.\d)")
_THIN_SPACED = re.compile(r"(?<![\d.,])\d{1,3}(?:[\u00a0\u2009\u202f]\d{3})+(?![\d,]|\.\d)")
_SIGN_WORD = re.compile(r"^(?:negative|minus)\s+", re.IGNORECASE)
_ASIDE = re.compile(r"\([^()]*\)")
_HASHES = re.compile(r"####\s*([^\n]*)")
#: a final-answer marker; when there is one, the last-number fallback is not used
_MARKED = re.compile(
    r"\\boxed\{|####|\b(?:final answer|answer)\s*(?:is|was|would be|:|=)", re.IGNORECASE
)
_LETTER = re.compile(r"\(([A-H])\)")
_SCORES = re.compile(r'"scores"\s*:\s*\[([^\]]*)\]')


class GradingError(ValueError):
    """An item cannot be graded as configured (a judge item without a judge model)."""


def prompt_messages(item: Item) -> list[dict[str, str]]:
    """The user message asking ``item``: the question first, on its own lines (the
    simulator's oracle finds it there), then the choices and how to end the reply."""
    if item.kind == "choice":
        lettered = "\n".join(f"{LETTERS[i]}. {c}" for i, c in enumerate(item.choices or []))
        text = f"{item.question}\n\n{lettered}\n\n{CHOICE_INSTRUCTION}"
    elif item.kind == "exact":
        text = f"{item.question}\n\n{EXACT_INSTRUCTION}"
    else:
        text = item.question
    return [{"role": "user", "content": text}]


def check(item: Item, answer: str | None) -> tuple[bool, str | None]:
    """Exact and choice items: whether ``answer`` is right, and what was read as its answer."""
    if answer is None or not answer.strip():
        return False, None
    if item.kind == "choice":
        letter = _letter(answer, item.choices or [])
        return letter == item.answer, letter
    gold = one_number(item.answer)
    if gold is not None:
        value = _number(answer)
        if value is None:
            return False, None
        return math.isclose(value, gold, rel_tol=1e-9, abs_tol=1e-9), f"{value:.12g}"
    found = normalize(answer)
    phrase = found.final if found.final is not None else answer.strip()
    return fold(phrase) == fold(item.answer), phrase


def _number(answer: str) -> float | None:
    """The final answer's one number; the last number in the reply only when it has no
    final-answer marker at all (an unreadable marked answer is no answer)."""
    hashes = _HASHES.findall(answer)
    phrase = hashes[-1] if hashes else normalize(answer).final
    if phrase is not None:
        return one_number(phrase)
    if _MARKED.search(answer.replace("*", "")):
        return None
    numbers = _NUMBER.findall(_THIN_SPACED.sub(_joined, _signed(answer.replace("\u2212", "-"))))
    return _value(numbers[-1]) if numbers else None


def one_number(phrase: str) -> float | None:
    """The value of a final-answer phrase holding one number (or one after its last
    ``=``); None when it holds none or several different ones."""
    text = _signed(phrase.replace("\u2212", "-").replace("$", "").strip())
    negate = _SIGN_WORD.match(text) is not None
    text = _SIGN_WORD.sub("", text)
    if (plain := _ASIDE.sub(" ", text)) != text and _NUMBER.search(plain):
        text = plain
    text = _SPACED.sub(_joined, text)
    if "=" in text:
        text = text.rsplit("=", 1)[1]
    values = {v for v in map(_value, _NUMBER.findall(text)) if v is not None}
    if not _NUMBER.search(text):
        value = parse_number(text)  # number words: "eighteen"
    else:
        value = values.pop() if len(values) == 1 else None
    return -value if negate and value is not None else value


def _signed(text: str) -> str:
    """``negative 3`` / ``minus 3`` -> ``-3`` where no number precedes (``5 minus 3`` stays)."""
    return re.sub(r"(?<![\d\s])(\s*)\b(?:negative|minus)\s+(?=\.?\d)", r"\1-", text, flags=re.I)


def _joined(match: re.Match[str]) -> str:
    return re.sub(r"[ \u00a0\u2009\u202f]", "", match[0])


def _value(token: str) -> float | None:
    token = token.replace(",", "").replace(" ", "")
    try:
        return float(Fraction(token)) if "/" in token else float(token)
    except (ValueError, ZeroDivisionError):
        return None


def _letter(answer: str, choices: Sequence[str]) -> str | None:
    found = normalize(answer)
    if found.kind == "choice":
        letter = found.key.removeprefix("choice:")
        return letter if letter in LETTERS[: len(choices)] else None
    if found.final is not None:
        restated = [fold(c) for c in choices]
        if fold(found.final) in restated:
            return LETTERS[restated.index(fold(found.final))]
    letters = [x for x in _LETTER.findall(answer) if x in LETTERS[: len(choices)]]
    return letters[-1] if letters else None


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
    """The two 0..10 scores of a judge's reply (JSON, or a ``"scores": [..]`` inside prose)."""
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
    first, second = (min(max(float(s), 0.0), 10.0) for s in scores[:2])
    return first, second


def _finite(score: object) -> bool:
    return isinstance(score, int | float) and not isinstance(score, bool) and math.isfinite(score)


class Grader:
    """Grades outcomes; judge items through ``client`` with ``judge`` (or, when None, the
    best model of another maker among ``available``, the gateway's ``GET /v1/models``
    entries, per graded strategy)."""

    def __init__(
        self,
        client: ChatClient | None = None,
        judge: str | None = None,
        *,
        pass_mark: float = 0.7,
        available: Sequence[Mapping[str, Any]] = (),
        max_tokens: int = 300,
    ) -> None:
        self.client = client
        self.judge = judge
        self.pass_mark = pass_mark
        self.available = tuple(available)
        self.max_tokens = max_tokens

    async def grade(self, item: Item, outcome: Outcome, graded_models: Sequence[str]) -> Grade:
        """The outcome's grade; for exact and choice items, each sample's ``correct`` too.
        Judge calls' failures (``GatewayCallFailed``) propagate to the caller."""
        if item.kind == "judge":
            return await self._judged(item, outcome.answer, graded_models)
        for sample in outcome.samples:
            if sample.answer is not None and sample.error is None:
                sample.correct = check(item, sample.answer)[0]
        correct, extracted = check(item, outcome.answer)
        return Grade(correct=correct, score=1.0 if correct else 0.0, extracted=extracted)

    def judge_for(self, graded_models: Sequence[str]) -> str:
        judge = self.judge or pick_judge(self.available, graded_models)
        if judge is None or self.client is None:
            raise GradingError(
                "judge-graded items need a judge model of another maker: pass --judge MODEL"
            )
        return judge

    async def _judged(self, item: Item, answer: str | None, graded: Sequence[str]) -> Grade:
        judge = self.judge_for(graded)
        if answer is None or not answer.strip():
            return Grade(correct=False, score=0.0, judge=judge)
        shown_first, shown_second = await asyncio.gather(
            self._ask(judge, item, answer, item.answer),
            self._ask(judge, item, item.answer, answer),
        )
        first = read_scores(shown_first.text)
        second = read_scores(shown_second.text)
        # an unreadable verdict does not endorse the answer: that order scores 0
        orders = [first[0] / 10 if first else 0.0, second[1] / 10 if second else 0.0]
        score = sum(orders) / 2
        return Grade(
            correct=score >= self.pass_mark,
            score=score,
            orders=orders,
            judge=judge,
            cost_usd=shown_first.cost_usd + shown_second.cost_usd,
            calls=2,
        )

    async def _ask(self, judge: str, item: Item, first: str, second: str) -> Reply:
        assert self.client is not None
        body = {
            "model": judge,
            "messages": judge_prompt(item, first, second),
            "temperature": 0,
            "max_tokens": self.max_tokens,
        }
        return await self.client.chat(body)


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
