"""Named text patterns shared by the secret and PII detectors, and how to find them fast.

A rule is a regular expression, an optional validator (a checksum such as Luhn's, which
a regex cannot express) and what makes finding it cheap. CPython's regex engine costs
10-30 ns per character when a pattern starts with a character class or an assertion,
but skips ahead at memchr speed when it starts with a literal. So:

- a key format starts with its literal prefix (``AKIA``, ``ghp_``); the "no key character
  before it" boundary is a look-behind placed *after* the prefix;
- a pattern that cannot start with a literal names *anchors*: literals every match
  contains within ``reach`` characters of its start (``@`` for an e-mail; for digit
  patterns, runs in the text's *shape*, where every digit reads ``1``: ``1111``). The regex
  then only runs in a window around each anchor;
- a rule that ignores case names *triggers*, lower-case literals one of which every match
  contains; when none is in the lower-cased text the rule is skipped.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

#: bytes.translate table for the shape: digits -> '1', separators kept, the rest -> '.'
_SHAPE = bytes(
    ord("1") if 48 <= b <= 57 else b if chr(b) in " -+()/" else ord(".") for b in range(256)
)


def shape_of(text: str) -> bytes:
    """One byte per character (non-ASCII becomes '?', so indexes agree with ``text``)."""
    return text.encode("ascii", "replace").translate(_SHAPE)


@dataclass(frozen=True, slots=True)
class PatternRule:
    name: str
    #: the regex (for a prefix rule, starting with its literal prefix)
    pattern: str
    #: lower-case literals one of which every match contains (rules that ignore case)
    triggers: tuple[str, ...] = ()
    #: case-sensitive literals one of which every match contains (a key's prefix)
    literals: tuple[str, ...] = ()
    #: a match counts only when this accepts its text (checksums, digit counts)
    valid: Callable[[str], bool] | None = None
    flags: int = 0
    #: literals a match contains within ``reach`` characters of its start: ``str`` ones in
    #: the text, ``bytes`` ones in its shape; ``span`` bounds a match's length (plus one)
    anchors: tuple[str | bytes, ...] = ()
    reach: int = 0
    span: int = 0
    #: what may continue a match beyond the stream's look-behind (a long key's remaining
    #: characters, a PEM block's body): the stream redactor swallows it after redacting
    tail: str | None = None
    #: an optional end to the tail (a PEM footer), shorter than any look-behind
    tail_end: str | None = None
    compiled: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "compiled", re.compile(self.pattern, self.flags))

    def find(self, text: str, pos: int, shape: bytes | None) -> re.Match[str] | None:
        """The leftmost match starting at or after ``pos`` (``shape``: ``shape_of(text)``,
        needed by rules with shape anchors)."""
        if not self.anchors:
            return self.compiled.search(text, pos)
        search, size, floor = self.compiled.search, len(text), pos
        if len(self.anchors) == 1:  # the common case, without the bookkeeping below
            anchor = _locate(self.anchors[0], text, shape, pos)
            while anchor >= 0:
                match = search(text, max(floor, anchor - self.reach), min(size, anchor + self.span))
                if match is not None and match.start() <= anchor:
                    return match
                floor = anchor + 1
                anchor = _locate(self.anchors[0], text, shape, floor)
            return None
        # each anchor's next occurrence, looked up again only once the scan passes it
        ahead = [_locate(a, text, shape, pos) for a in self.anchors]
        while True:
            anchor = min((a for a in ahead if a >= 0), default=-1)
            if anchor < 0:
                return None
            match = search(text, max(floor, anchor - self.reach), min(size, anchor + self.span))
            if match is not None and match.start() <= anchor:
                return match
            floor = anchor + 1
            ahead = [
                _locate(a, text, shape, floor) if 0 <= at < floor else at
                for a, at in zip(self.anchors, ahead, strict=True)
            ]

    def possible(self, text: str, lowered: str, shape: bytes | None) -> bool:
        """False when the text lacks everything a match must contain (its triggers in the
        lower-cased text, its literals, its anchors): then the rule cannot match."""
        if self.triggers and not any(t in lowered for t in self.triggers):
            return False
        if self.literals and not any(x in text for x in self.literals):
            return False
        if self.anchors:
            return any(
                (a in text) if isinstance(a, str) else (shape is not None and a in shape)
                for a in self.anchors
            )
        return True

    def first(self, text: str, lowered: str, shape: bytes | None) -> bool:
        """Whether ``text`` holds a valid match."""
        if not self.possible(text, lowered, shape):
            return False
        pos = 0
        while (match := self.find(text, pos, shape)) is not None:
            if self.valid is None or self.valid(match.group()):
                return True
            pos = match.end()
        return False


def _locate(anchor: str | bytes, text: str, shape: bytes | None, pos: int) -> int:
    if isinstance(anchor, str):
        return text.find(anchor, pos)
    assert shape is not None
    return shape.find(anchor, pos)


def hot_pattern(rules: Sequence[PatternRule]) -> tuple[re.Pattern[str], int]:
    """A regex for anything one of the rules' matches must contain (prefixes, anchors,
    triggers, any digit for shape anchors), and the longest such literal: text with none
    of these cannot hold a match."""
    literals: set[str] = set()
    folded: set[str] = set()
    digits = False
    for rule in rules:
        literals.update(rule.literals)
        folded.update(rule.triggers)
        literals.update(a for a in rule.anchors if isinstance(a, str))
        digits = digits or any(isinstance(a, bytes) for a in rule.anchors)
        if not (rule.literals or rule.triggers or rule.anchors):
            raise ValueError(f"rule {rule.name} names nothing its matches contain")
    parts = [re.escape(x) for x in sorted(literals, key=len, reverse=True)]
    if folded:
        parts.append("(?i:" + "|".join(re.escape(x) for x in sorted(folded)) + ")")
    if digits:
        parts.append("[0-9]")
    longest = max(map(len, literals | folded | {"0"}))
    return re.compile("|".join(parts)), longest


def needs_shape(rules: Sequence[PatternRule]) -> bool:
    return any(isinstance(a, bytes) for r in rules for a in r.anchors)


def first_rule(rules: Sequence[PatternRule], text: str, lowered: str) -> str | None:
    """The name of the first rule (in order) that matches ``text``, or None."""
    shape = shape_of(text) if needs_shape(rules) else None
    for rule in rules:
        if rule.first(text, lowered, shape):
            return rule.name
    return None
