"""What each item asks, and whether an answer is right: exact match, a letter, or a judge.

- **exact**: the reply's final answer against the gold. The gold is a number only when it
  is wholly one (``18``, ``$18``, ``1,000``, ``50%``, ``18 dollars``): then numbers compare
  by value (``"$1,000.00"`` == ``"1000"``, ``".5"`` == ``"0.5"``, ``"minus 3"`` == ``"-3"``,
  ``1{,}000``, ``\\frac{3}{4}``); any other gold (``Windows 10``, ``COVID-19``) by folded
  text, a yes/no gold also by the phrase's first word (``yes, because ..``). The final
  answer is the LAST marked phrase (``\\boxed{..}``, ``#### ..``, "the answer is ..",
  "I choose option ..") that reads as an answer of the gold's kind, so "This answer is
  reasonable" after it changes nothing. Strict like a careful grader: a phrase holding
  two different numbers (``"5 or 6"``) reads as no answer, except an equation's
  result (``"9 * 2 = 18"``); an aside in brackets is ignored. Only a reply without any
  marker is read by its last number: the usual GSM8K practice (Cobbe et al. 2021;
  lm-evaluation-harness' "flexible extract"). :func:`answer_key` is that reading, which
  self-consistency votes on.
- **choice**: the letter of the last readable final answer (``(B)``, ``B) Jupiter``,
  ``option B``, ``**B**``, "I would choose B"), or the choice whose text it restates, or
  the last ``(X)`` in the reply.
- **judge**: a model scores the answer and the reference 0..10, unlabelled, twice with the
  order swapped; the score is the mean of the answer's two scores / 10 (a judge favouring
  the first position helps and hurts each answer once), kept per order in ``orders`` so the
  bias stays visible. The judge is from another maker than the graded models when chosen
  by :func:`pick_judge` (a model tends to prefer its own family's answers). Scores all
  <= 1 are read as a 0..1 scale, any > 10 as 0..100; a verdict without two readable scores
  is a grading failure (``invalid_judge_reply``: the answer stays ungraded until a rerun).
"""

from __future__ import annotations

import asyncio
import math
import re
from collections.abc import Callable, Mapping, Sequence
from fractions import Fraction
from functools import partial
from typing import Any

from orchestra.errors import GatewayCallFailed
from orchestra.evaluation.judging import judge_prompt, pick_judge, read_scores
from orchestra.evaluation.protocols import ChatClient, Reply
from orchestra.evaluation.records import Grade, Item, Outcome
from orchestra.fusion.answers import SHORT_WORDS, fold, parse_number

LETTERS = "ABCDEFGH"
EXACT_INSTRUCTION = "Think step by step, then end with a line of the form 'The answer is X.'"
CHOICE_INSTRUCTION = (
    "Think step by step, then end with a line of the form 'The answer is (X).' where X is "
    "the letter of your choice."
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
_LETTER = re.compile(r"\(([A-H])\)")
#: a gold that is a number as a whole: optional sign and currency, ``%`` or unit words
_GOLD_NUMBER = re.compile(
    r"^[-+\u2212]?\s*[$\u20ac\u00a3]?\s*[-+\u2212]?"
    r"(?:(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|\.\d+)(?:\s*/\s*\d+)?"
    r"\s*(?:%|[a-z]+(?:/[a-z]+)?(?:\s+[a-z]+){0,2})?\.?$"
)
_MARKERS = (
    re.compile(r"\\boxed\{([^{}]*(?:\{[^{}]*\}[^{}]*)*)\}"),
    re.compile(r"####\s*([^\n]*)"),
    # "the answer is X" (not "this answer is reasonable"), to the end of its sentence
    re.compile(
        r"(?<!this )(?<!that )\b(?:final answer|answer)\s*(?:is|was|would be|:|=)\s*:?\s*"
        r"(.+?)(?=\.(?!\d)|\n|;|$)",
        re.IGNORECASE,
    ),
    re.compile(r"(?i:\b(?:choose|select|pick|go with)\s+(?:option\s+|choice\s+)?)(\(?[A-H]\)?)\b"),
)
_CHOICE_HEAD = re.compile(
    r"^(?:([A-Ha-h])$|\(([A-Ha-h])\)|([A-Ha-h])[.):](?:\s|$)|(?i:option|choice)\s+\(?([A-H])\)?\b)"
)
_BOOLEAN = {"yes": "yes", "no": "no", "true": "yes", "false": "no"}
_BOLD_LETTER = re.compile(r"\*\*\s*\(?([A-H])\)?[.):]?\s*\*\*")
_EMPHASIS = re.compile(r"\*\*|__|`|\\\(|\\\)|\\\[|\\\]")
_LATEX_SPACE = re.compile(r"\\[,!;:]")
_LATEX_TEXT = re.compile(r"\\(?:text|textbf|mathrm|mathbf|operatorname)\{([^{}]*)\}")
_LATEX_FRAC = re.compile(r"\\[dt]?frac\{([^{}]*)\}\{([^{}]*)\}")


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
    key, extracted = _read(item, answer)
    if key is None:
        return False, extracted
    gold = _gold_key(item)
    if key.startswith("num:") and gold is not None and gold.startswith("num:"):
        right = math.isclose(float(key[4:]), float(gold[4:]), rel_tol=1e-9, abs_tol=1e-9)
        return right, extracted
    return key == gold, extracted


def answer_key(item: Item, text: str | None) -> str | None:
    """What the grader reads as ``text``'s answer to ``item``, as a comparable key
    (``num:18``, ``B``, ``bool:yes``, folded text); None when it reads none. Self-consistency
    votes on it, so the vote and the grade agree on what each sample answered."""
    return _read(item, text)[0]


def vote_key(item: Item) -> Callable[[str], str | None] | None:
    """The key :func:`orchestra.evaluation.voting.vote` groups ``item``'s samples by: the
    grader's reading for exact and choice items; None (fusion's clusters) for judge items."""
    return None if item.kind == "judge" else partial(answer_key, item)


def gold_number(gold: str) -> float | None:
    """A gold answer's value when the WHOLE gold is a number (``18``, ``$18``, ``1,000``,
    ``50%``, ``18 dollars``); None for ``Windows 10``, ``COVID-19``, ``June 1944``."""
    return one_number(gold) if _GOLD_NUMBER.match(gold.strip()) else None


def _gold_key(item: Item) -> str | None:
    if item.kind == "choice":
        return item.answer.strip().upper()
    value = gold_number(item.answer)
    if value is not None:
        return f"num:{value:.12g}"
    return _text_key(item.answer, item.answer)


def _read(item: Item, answer: str | None) -> tuple[str | None, str | None]:
    """(key, extracted): the last final-answer phrase that reads as an answer of the gold's
    kind wins; a reply without any marker is read whole when short, else by its last
    number (numeric golds) or its last ``(X)`` (choices)."""
    if answer is None or not answer.strip():
        return None, None
    text = _plain(answer, item.kind == "choice")
    phrases = _marked(text)
    reader = _reader(item)
    for phrase in reversed(phrases):
        if (found := reader(phrase)) is not None:
            return found
    if item.kind == "choice":
        short = None if phrases or len(text.split()) > SHORT_WORDS else reader(text)
        letters = [x for x in _LETTER.findall(text) if x in LETTERS[: len(item.choices or [])]]
        return short or ((letters[-1], letters[-1]) if letters else (None, None))
    if phrases:
        return None, None
    if len(text.split()) <= SHORT_WORDS or gold_number(item.answer) is None:
        return reader(text.rstrip(".!").strip()) or (None, None)
    numbers = _NUMBER.findall(_THIN_SPACED.sub(_joined, _signed(text.replace("\u2212", "-"))))
    value = _value(numbers[-1]) if numbers else None
    return (f"num:{value:.12g}", f"{value:.12g}") if value is not None else (None, None)


def _reader(item: Item) -> Callable[[str], tuple[str, str] | None]:
    if item.kind == "choice":
        return partial(_choice_of, item.choices or [])
    if gold_number(item.answer) is not None:
        return _numeric
    return partial(_text_of, item.answer)


def _numeric(phrase: str) -> tuple[str, str] | None:
    value = one_number(phrase)
    return None if value is None else (f"num:{value:.12g}", f"{value:.12g}")


def _choice_of(choices: Sequence[str], phrase: str) -> tuple[str, str] | None:
    """A letter (``B``, ``(B)``, ``B) Jupiter``, ``option B``) or a restated choice."""
    bare = phrase.strip().rstrip(".!:,").strip()
    words = bare.split()
    head = _CHOICE_HEAD.match(bare)
    letter = None
    if head and (len(words) == 1 or head[1] or head[3] or head[4]):
        letter = next(g for g in head.groups() if g).upper()
    elif fold(bare) in (restated := [fold(c) for c in choices]):
        letter = LETTERS[restated.index(fold(bare))]
    if letter is None or letter not in LETTERS[: len(choices)]:
        return None
    return letter, letter


def _text_of(gold: str, phrase: str) -> tuple[str, str] | None:
    bare = phrase.strip().rstrip(".!").strip()
    key = _text_key(bare, gold)
    return None if not key else (key, bare)


def _text_key(phrase: str, gold: str) -> str:
    """Folded text; for a yes/no gold, the phrase's first word (``yes, because ...``)."""
    folded = fold(phrase)
    if fold(gold) in _BOOLEAN:
        first = folded.split(" ", 1)[0] if folded else ""
        return f"bool:{_BOOLEAN[first]}" if first in _BOOLEAN else folded
    return folded


def _plain(answer: str, choice: bool) -> str:
    """The reply without markdown emphasis and LaTeX spacing, grouping, ``\\text`` and
    ``\\frac``; for a choice, a bold lone letter (``**B**``) becomes a marked answer."""
    text = _BOLD_LETTER.sub(r"\\boxed{\1}", answer) if choice else answer
    text = text.replace("{,}", ",").replace("\\%", "%").replace("\\$", "$")
    text = _LATEX_SPACE.sub("", text).replace("\\ ", " ")
    for _ in range(2):  # one level of nesting: \frac{\text{3}}{4}
        text = _LATEX_TEXT.sub(r"\1", text)
        text = _LATEX_FRAC.sub(r"\1/\2", text)
    return _EMPHASIS.sub("", text).strip()


def _marked(text: str) -> list[str]:
    """Every final-answer phrase (``\\boxed{..}``, ``#### ..``, "the answer is ..",
    "I choose option ..") in the order they appear."""
    found = [(m.start(), m[1]) for pattern in _MARKERS for m in pattern.finditer(text)]
    return [phrase.strip().strip("*_ ") for _, phrase in sorted(found)]


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


class Grader:
    """Grades outcomes; judge items through ``client`` with ``judge`` (or, when None, the
    best model of another maker among ``available``, the gateway's ``GET /v1/models``
    entries, per graded strategy). ``max_tokens``: the judge's reply budget, roomy because
    a reasoning judge spends part of it thinking before its JSON."""

    def __init__(
        self,
        client: ChatClient | None = None,
        judge: str | None = None,
        *,
        pass_mark: float = 0.7,
        available: Sequence[Mapping[str, Any]] = (),
        max_tokens: int = 1024,
    ) -> None:
        self.client = client
        self.judge = judge
        self.pass_mark = pass_mark
        self.available = tuple(available)
        self.max_tokens = max_tokens

    async def grade(self, item: Item, outcome: Outcome, graded_models: Sequence[str]) -> Grade:
        """The outcome's grade; for exact and choice items, each sample's ``correct`` too.
        Judge calls' failures and unreadable verdicts (``GatewayCallFailed``) propagate to
        the caller, which keeps the answer ungraded."""
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
        if first is None or second is None:  # a grading failure: graded again on a rerun
            raise GatewayCallFailed(
                "the judge's reply held no readable scores", status=502, code="invalid_judge_reply"
            )
        orders = [first[0] / 10, second[1] / 10]
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
