"""Answer normalisation: the final answer inside a model's reply, as a comparable key.

Models phrase one answer many ways ("The answer is 42.", "42", "**42**", "\\boxed{42}",
"forty-two", "Answer: (B)", "Yes, it is."). :func:`normalize` finds the final answer
phrase and classifies it:

* ``number``: one numeric value (thousands separators, ``$``/``%``, fractions and number
  words up to the hundreds are understood), compared by value;
* ``choice``: a multiple-choice letter (``B``, ``(B)``, ``option B``);
* ``boolean``: yes/no, true/false;
* ``short``: a short phrase (up to :data:`SHORT_WORDS` words), compared as folded text;
* ``text``: anything else, compared as whole texts by lexical similarity.

Where the phrase comes from, in order: the last ``\\boxed{...}``; the last "final answer /
the answer / result / solution is|:|=" marker; the whole reply when it is short. A long
reply without a marker is compared as text: guessing "the last number" in an essay would
merge answers that merely mention the same figure.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction
from typing import Literal

Kind = Literal["number", "choice", "boolean", "short", "text"]
#: replies (or final-answer phrases) up to this many words are "short answers"
SHORT_WORDS = 8

_BOXED = re.compile(r"\\boxed\{([^{}]*(?:\{[^{}]*\}[^{}]*)*)\}")
_TAIL = r"\s*(?:is|was|would be|:|=)\s*:?\s*(.+?)(?=\.(?!\d)|\n|;|$)"
#: "the answer is X": X is the answer, whatever it is
_MARKER = re.compile(r"(?:final answer|the answer|answer)" + _TAIL, re.IGNORECASE)
#: "the result is X": X counts only when it is a number ("the result is that...")
_WEAK_MARKER = re.compile(r"(?:result|solution|total)" + _TAIL, re.IGNORECASE)
_MARKUP = re.compile(r"(\*\*|__|`|\$|\\\(|\\\)|\\\[|\\\])")
_NUMBER = re.compile(r"[-+\u2212]?\d[\d,\u202f]*(?:\.\d+)?(?:[eE][-+]?\d+)?(?:\s*/\s*\d+)?")
_CHOICE = re.compile(
    r"^(?:(?:option|choice|answer)\s+)?(?:\(([A-H])\)|([A-H])[.):]?)(?:\s.*)?$", re.IGNORECASE
)
_CHOICE_HEAD = re.compile(r"^(?:\([A-H]\)|[A-H][.):])", re.IGNORECASE)
#: a number leading a phrase and not followed by an operator: "41 because 6 x 7 = 42" -> 41
_LEADING = re.compile(r"^[$\u20ac\u00a3]?\s*(" + _NUMBER.pattern + r")(?!\s*[x\u00d7*+\-/^=\d])")
_BOOLEAN = {"yes": "yes", "no": "no", "true": "yes", "false": "no", "correct": "yes"}
_ARTICLES = re.compile(r"\b(?:the|a|an)\b")
_PUNCT = re.compile(r"[^\w\s]")

_UNITS = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
    "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13,
    "fourteen": 14, "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18,
    "nineteen": 19,
}  # fmt: skip
_TENS = {
    "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70,
    "eighty": 80, "ninety": 90,
}  # fmt: skip
_UNIT_WORDS = "|".join(_UNITS)
_TEN_WORDS = "|".join(_TENS)
_DIGIT_WORDS = "|".join(list(_UNITS)[1:10])
_WORD_NUMBER = re.compile(
    rf"^(?:({_UNIT_WORDS})\s+hundred(?:\s+(?:and\s+)?)?)?"
    rf"(?:({_TEN_WORDS})(?:[-\s]({_DIGIT_WORDS}))?|({_UNIT_WORDS}))?$",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Normalized:
    """One reply, reduced to what is compared."""

    text: str
    kind: Kind
    #: the canonical comparison key (a number's value, a letter, folded text)
    key: str
    #: the final-answer phrase found, if any
    final: str | None = None
    value: float | None = None


def normalize(text: str) -> Normalized:
    plain = _MARKUP.sub("", text or "").strip()
    phrase = _final_phrase(plain)
    if phrase is not None:
        classified = _classify(phrase, text)
        if classified is not None:
            return classified
        return Normalized(text, "short", fold(phrase), final=phrase)
    return Normalized(text, "text", fold(plain))


def _final_phrase(plain: str) -> str | None:
    boxed = _BOXED.findall(plain)
    if boxed:
        return str(boxed[-1]).strip()
    markers = _MARKER.findall(plain)
    if markers:
        phrase = str(markers[-1]).strip().strip("*_ ")
        if phrase and len(phrase.split()) <= SHORT_WORDS * 2:
            return phrase
    weak = [m for m in _WEAK_MARKER.findall(plain) if parse_number(m) is not None]
    if weak:
        return str(weak[-1]).strip()
    if len(plain.split()) <= SHORT_WORDS:
        return plain.rstrip(".!").strip()
    return None


def _classify(phrase: str, text: str) -> Normalized | None:
    bare = phrase.strip().rstrip(".!:,").strip()
    if (choice := _CHOICE.match(bare)) and _is_choice(bare):
        letter = (choice[1] or choice[2]).upper()
        return Normalized(text, "choice", f"choice:{letter}", final=phrase)
    first_word = fold(bare).split(" ", 1)[0] if bare else ""
    if first_word in _BOOLEAN and len(bare.split()) <= 4:
        return Normalized(text, "boolean", f"bool:{_BOOLEAN[first_word]}", final=phrase)
    value = parse_number(bare)
    if value is not None:
        return Normalized(text, "number", f"num:{value:.12g}", final=phrase, value=value)
    if len(bare.split()) <= SHORT_WORDS:
        return Normalized(text, "short", fold(bare), final=phrase)
    return None


def _is_choice(bare: str) -> bool:
    """A lone letter, ``(B)``, ``B)``, ``B. text``, ``option B``; never "A dog"."""
    words = bare.split()
    if len(words) == 1:
        return True
    head = words[0].lower()
    return head in ("option", "choice", "answer") or bool(_CHOICE_HEAD.match(words[0]))


def parse_number(phrase: str) -> float | None:
    """The one number in a short phrase (digits, a fraction or words), else None."""
    cleaned = phrase.replace("\u2212", "-").replace("\u202f", "")
    found = _NUMBER.findall(cleaned)
    if len(found) == 1:
        return _to_float(found[0])
    if len(found) > 1:
        if leading := _LEADING.match(cleaned.strip()):
            return _to_float(leading[1])
        # "6 x 7 = 42": the value after the last "=" is the answer
        tail = cleaned.rsplit("=", 1)[-1] if "=" in cleaned else ""
        tail_numbers = _NUMBER.findall(tail)
        return _to_float(tail_numbers[0]) if len(tail_numbers) == 1 else None
    return _word_number(fold(phrase))


def _to_float(token: str) -> float | None:
    token = token.replace(",", "").replace(" ", "")
    try:
        if "/" in token:
            return float(Fraction(token))
        return float(token)
    except (ValueError, ZeroDivisionError):
        return None


def _word_number(folded: str) -> float | None:
    words = folded.replace("-", " ").split()
    if not words or len(words) > 5:
        return None
    match = _WORD_NUMBER.match(" ".join(words))
    if match is None or not any(match.groups()):
        return None
    hundreds, tens, unit, alone = match.groups()
    total = _UNITS[hundreds.lower()] * 100 if hundreds else 0
    total += _TENS[tens.lower()] if tens else 0
    total += _UNITS[unit.lower()] if unit else 0
    total += _UNITS[alone.lower()] if alone else 0
    return float(total)


def fold(text: str) -> str:
    """Case-folded, punctuation and articles removed, spaces collapsed."""
    folded = _PUNCT.sub(" ", text.casefold())
    return " ".join(_ARTICLES.sub(" ", folded).split())
