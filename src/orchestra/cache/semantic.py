"""The semantic cache: a question near one already answered, in the same scope, is served
that answer, when the two are close enough (cosine) **and** ask about the same thing.

:class:`SemanticIndex` embeds the last user message (``probe``), asks the vector store for
the nearest questions of the same scope (everything else about the request identical:
``cache.keys.scope_key``), keeps those at or above the threshold, and remembers a new
answer's vector (``remember``). Embedding or store failures are a miss, logged by
exception type: the cache never makes a request fail.

Embeddings place "capital of Austria" next to "capital of Australia", and "sum of 2 and 3"
next to "sum of 2 and 4": close in wording, different questions. :func:`subject_change` is
the guard applied after the threshold (``same_subject``); the rules are in its docstring.
"""

from __future__ import annotations

import asyncio
import bisect
import logging
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

from orchestra.cache.protocols import Embedder, VectorMatch, VectorStore
from orchestra.cache.records import DEFAULT_THRESHOLD
from orchestra.cache.vectors import unit

log = logging.getLogger("orchestra.cache")

#: float32 storage moves a cosine by about 1e-7: a threshold of 1.0 still matches itself
_EPSILON = 1e-6

# -- the entity guard ---------------------------------------------------------------------


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


#: words that carry no subject: rewording with or without them is the same question
FUNCTION_WORDS = _words(
    "a an the is are was were be been being am do does did doing done have has had having "
    "i me my mine we us our you your he him his she her it its they them their this that "
    "these those there here what how to of in on at by for with from into onto about as "
    "than then so such and or but if whether can could would should will shall might must "
    "please tell show give explain describe help want need know like just also any some "
    "get ca wo let s d ll ve re m"
)
#: negations ("n't" is spelt out first)
NEGATIONS = _words("not no never none nothing neither nor without except cannot")
#: interrogatives that change what is asked ("what", "which" and "how" reword each other)
INTERROGATIVES = _words("who whom whose when where why")
NUMBER_WORDS = _words(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen twenty thirty forty fifty sixty seventy "
    "eighty ninety hundred thousand million billion trillion half quarter twice dozen "
    "first second third fourth fifth last"
)
DATES = _words(
    "january february march april june july august september october november december "
    "jan feb mar apr jun jul aug sep sept oct nov dec monday tuesday wednesday thursday "
    "friday saturday sunday today tomorrow yesterday tonight weekend"
)
UNITS = _words(
    "mm cm km meter metre kilometer kilometre centimeter millimeter inch inches ft foot feet "
    "yard mile mi nm mg kg gram kilogram lb lbs pound oz "
    "ounce ton tonne ml liter litre gallon cup quart pint ms sec minute hour hr day week "
    "month year decade century celsius fahrenheit kelvin degree kb mb gb tb byte bit kbps "
    "mbps gbps hz khz mhz ghz kw watt kwh volt amp mph kph kmh usd eur gbp jpy cny dollar "
    "euro yen yuan percent $ € £ ¥ % °"
)
_SIGN = r"[$€£¥%°]"
_NUMBER = r"\d+(?:[.,:/-]\d+)*"
_WORD = r"[^\W\d_]\w*|_\w*"
_IDENTIFIER = rf"(?:{_WORD})(?:(?:\.|::|->)(?:{_WORD}))+(?:\(\))?|(?:{_WORD})\(\)"
_TOKEN = re.compile(rf"`[^`]+`|{_IDENTIFIER}|{_NUMBER}|{_WORD}|{_SIGN}")
_CAMEL = re.compile(r"[a-z][A-Z]|[A-Za-z]\d|\d[A-Za-z]|_")
#: words that give two others a direction: "a string to an integer", "cats bigger than dogs"
DIRECTIONS = _words(
    "to into from in of by than versus vs before after over under above below minus per"
)
#: how many words either side of a direction word it relates
_WINDOW = 3
_CLAUSE_END = re.compile(r"[,;.?!:]+(?=\s|$)|\n")
_SENTENCE_END = (".", "?", "!", ":", ";", "\n", '"', "(", "*", "-", ">", "#")
_CONTRACTIONS = (
    (re.compile(r"\bwon[\u2019']t\b", re.IGNORECASE), "will not"),
    (re.compile(r"\bcannot\b", re.IGNORECASE), "can not"),
    (re.compile(r"n[\u2019']t\b", re.IGNORECASE), " not"),
)


class _Token(NamedTuple):
    norm: str
    #: a name, number, date, unit, negation, interrogative or code identifier
    marked: bool
    #: not a function word
    content: bool
    #: which clause of the text (split at , ; . ? ! : and new lines)
    clause: int = 0


def _stem(word: str) -> str:
    """A crude English stem, enough that plurals and -ing/-ed forms are one word."""
    for suffix, keep in (("ies", "y"), ("sses", "ss"), ("ing", ""), ("ed", ""), ("es", "")):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            word = word[: len(word) - len(suffix)] + keep
            break
    else:
        if word.endswith("s") and not word.endswith("ss") and len(word) > 3:
            word = word[:-1]
    return word[:-1] if word.endswith("e") and len(word) > 3 else word


def _starts_sentence(text: str, start: int) -> bool:
    before = text[:start].rstrip()
    return not before or before.endswith(_SENTENCE_END)


def _token(text: str, match: re.Match[str]) -> _Token:
    raw = match.group()
    if raw.startswith("`"):
        return _Token(raw.strip("`").strip().lower(), True, True)
    lower = raw.lower()
    if raw[0].isdigit():
        return _Token(lower.replace(",", ""), True, True)
    if lower in FUNCTION_WORDS:
        return _Token(lower, False, False)
    if lower in DIRECTIONS:
        return _Token(lower, False, True)
    stem = _stem(lower)
    marked = (
        lower in NEGATIONS
        or lower in INTERROGATIVES
        or lower in NUMBER_WORDS
        or lower in DATES
        or lower in UNITS
        or (lower.endswith("s") and (lower[:-1] in UNITS or lower[:-2] in UNITS))
        or len(lower) == 1  # a variable or a label: x, y, plan B
        or bool(_CAMEL.search(raw))  # snake_case, camelCase, s3, gpt4o
        or not raw[0].isalpha()
        or "." in raw
        or "(" in raw
        or (raw[0].isupper() and not _starts_sentence(text, match.start()))  # a name
        or (len(raw) > 1 and raw.isupper())  # an acronym, even first: AWS, GCP
    )
    # the same spelling gives the same norm, marked or not (casing never makes a difference)
    return _Token(stem if raw.isalpha() else lower, marked, True)


def _tokens(text: str) -> list[_Token]:
    for pattern, replacement in _CONTRACTIONS:
        text = pattern.sub(replacement, text)
    ends = [match.start() for match in _CLAUSE_END.finditer(text)]
    return [
        _token(text, match)._replace(clause=bisect.bisect(ends, match.start()))
        for match in _TOKEN.finditer(text)
    ]


def _directed(tokens: list[_Token]) -> set[tuple[str, str]]:
    """(x, y) for the words x before and y after a direction word, in its clause."""
    pairs: set[tuple[str, str]] = set()
    for i, word in enumerate(tokens):
        if word.norm not in DIRECTIONS:
            continue
        near = [(j, t.norm) for j, t in enumerate(tokens) if t.clause == word.clause and t.content]
        left = [norm for j, norm in near if j < i][-_WINDOW:]
        right = [norm for j, norm in near if j > i][:_WINDOW]
        pairs.update((x, y) for x in left for y in right if x != y)
    return pairs


def _trigrams(word: str) -> set[str]:
    padded = f" {word} "
    return {padded[i : i + 3] for i in range(len(padded) - 2)}


def _near_spelling(a: str, b: str) -> bool:
    """Two different words spelt alike (Austria/Australia, Java/JavaScript)."""
    if a[:4] == b[:4] and min(len(a), len(b)) >= 4:
        return True
    ta, tb = _trigrams(a), _trigrams(b)
    return len(ta & tb) / len(ta | tb) >= 0.5


def subject_change(question: str, cached_question: str) -> str | None:
    """Why two questions close in wording are not the same question, or None.

    Both are read as words (contractions spelt out, case and punctuation ignored, plurals
    and -ing/-ed forms stemmed). The function words (articles, auxiliaries, pronouns,
    prepositions, "what"/"how", "please tell me"...) never matter. Then, in order:

    1. ``"marked"``: the *marked* words (names: capitalised words not starting a sentence
       and acronyms; numbers and number words; dates; units and currencies; negations;
       who/when/where/why; code identifiers: backquoted, dotted, snake_case,
       camelCase, letters with digits; single letters) must be the same, as many times.
       A word marked in either question is compared in both, so casing alone never differs.
    2. ``"order"``: two words either side of a direction word (to, into, from, in, of, by,
       than, versus, before, after, over, under, above, below, minus, per; up to three
       words each side, within a clause) must not trade places ("convert a string to an
       integer" is not "an integer to a string", "from Paris to Rome" not "from Rome to
       Paris", "Celsius in Fahrenheit" not "Fahrenheit in Celsius"); otherwise word order
       never matters (a phrase moved to the front is the same question).
    3. ``"swap"``: the other content words may differ (rewording) unless exactly one word
       was swapped for one other (``capital of france`` / ``capital of germany``; words
       counted, so "rice in a rice cooker" / "quinoa in a rice cooker" is a swap): a lone
       swap is a change of subject more often than a synonym.
    4. ``"near-spelling"``: no differing word may be spelt like a differing word of the
       other question (``austria`` / ``australia``) without being the same word.
    """
    a, b = _tokens(question), _tokens(cached_question)
    marked = {t.norm for t in (*a, *b) if t.marked}
    if Counter(t.norm for t in a if t.norm in marked) != Counter(
        t.norm for t in b if t.norm in marked
    ):
        return "marked"
    pairs_b = _directed(b)
    if any((y, x) in pairs_b and (x, y) not in pairs_b for x, y in _directed(a)):
        return "order"
    words_a = Counter(t.norm for t in a if t.content and t.norm not in marked)
    words_b = Counter(t.norm for t in b if t.content and t.norm not in marked)
    only_a, only_b = set(words_a - words_b), set(words_b - words_a)
    if len(only_a) == 1 and len(only_b) == 1:
        return "swap"
    if any(_near_spelling(x, y) for x in only_a for y in only_b):
        return "near-spelling"
    return None


# -- the index ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Probe:
    """A question's unit vector (None: the embedding failed) and its stored neighbours at
    or above the threshold, most similar first."""

    vector: list[float] | None
    matches: list[VectorMatch]


class SemanticIndex:
    """Questions as vectors in ``vectors``, embedded by ``embed``.

    ``timeout_s`` bounds an embedding call (a slow embedding model must not hold a request
    longer than its answer would take)."""

    def __init__(
        self,
        vectors: VectorStore,
        embed: Embedder,
        *,
        threshold_default: float = DEFAULT_THRESHOLD,
        top_k: int = 3,
        guard: bool = True,
        timeout_s: float | None = 5.0,
    ) -> None:
        self.vectors = vectors
        self.embed = embed
        self.threshold_default = threshold_default
        self.top_k = top_k
        self.guard = guard
        self.timeout_s = timeout_s

    async def probe(self, scope: str, question: str, threshold: float) -> Probe:
        """Embed ``question`` and find its neighbours in ``scope``; never raises."""
        try:
            async with asyncio.timeout(self.timeout_s):
                vector = unit(await self.embed(question))
        except Exception as exc:  # the cache is an optimisation: never an outage
            log.warning("cache embedding failed: %s", type(exc).__name__)
            return Probe(None, [])
        try:
            found = await self.vectors.query(scope, vector, self.top_k)
        except Exception as exc:
            log.warning("cache vector query failed: %s", type(exc).__name__)
            return Probe(vector, [])
        return Probe(vector, _above(found, threshold))

    def same_subject(self, question: str, cached_question: str | None) -> bool:
        """Whether a near match may answer ``question`` (see :func:`subject_change`);
        with the guard off, any cached question may."""
        if cached_question is None:
            return False
        if not self.guard:
            return True
        reason = subject_change(question, cached_question)
        if reason is not None:
            log.debug("cache semantic match refused: %s", reason)
        return reason is None

    async def remember(self, scope: str, key: str, vector: list[float], expires_at: int) -> None:
        """Store ``key``'s question vector in ``scope``; never raises."""
        try:
            await self.vectors.put(scope, key, vector, expires_at)
        except Exception as exc:
            log.warning("cache vector write failed: %s", type(exc).__name__)


def _above(found: Sequence[VectorMatch], threshold: float) -> list[VectorMatch]:
    kept = [match for match in found if match.similarity >= threshold - _EPSILON]
    return sorted(kept, key=lambda match: -match.similarity)
