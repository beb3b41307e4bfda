"""Named text patterns shared by the secret and PII detectors.

A rule is a regular expression, an optional validator (a checksum such as Luhn's, which
a regex cannot express) and optional *triggers*: literals one of which every match
contains (lower-case and tested on the lower-cased text when the rule ignores case).
Testing ``trigger in text`` costs about a nanosecond per character, a regex search about
ten, so the input checks skip every rule whose triggers are all absent.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class PatternRule:
    name: str
    #: the regex; no capturing groups (rules are combined into one alternation by name)
    pattern: str
    #: literals one of which every match contains; empty: the regex always runs
    triggers: tuple[str, ...] = ()
    #: a match counts only when this accepts its text (checksums, digit counts)
    valid: Callable[[str], bool] | None = None
    flags: int = 0
    #: what may continue a match beyond the stream's look-behind (a long key's remaining
    #: characters, a PEM block's body): the stream redactor swallows it after redacting
    tail: str | None = None
    #: an optional end to the tail (a PEM footer), shorter than any look-behind
    tail_end: str | None = None
    compiled: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "compiled", re.compile(self.pattern, self.flags))

    def first(self, text: str, lowered: str) -> bool:
        """Whether ``text`` holds a valid match (``lowered``: the same text lower-cased,
        where the triggers of a rule that ignores case are looked for)."""
        if self.triggers:
            haystack = lowered if self.flags & re.IGNORECASE else text
            if not any(t in haystack for t in self.triggers):
                return False
        for match in self.compiled.finditer(text):
            if self.valid is None or self.valid(match.group()):
                return True
        return False


def first_rule(rules: Sequence[PatternRule], text: str, lowered: str) -> str | None:
    """The name of the first rule (in order) that matches ``text``, or None."""
    for rule in rules:
        if rule.first(text, lowered):
            return rule.name
    return None


def combined(rules: Sequence[PatternRule]) -> re.Pattern[str]:
    """One alternation of every rule, each in a group named ``r<index>``: a single scan
    finds the leftmost match of any rule (earlier rules win at the same position)."""
    parts = []
    for index, rule in enumerate(rules):
        body = f"(?{_inline(rule.flags)}:{rule.pattern})" if rule.flags else rule.pattern
        parts.append(f"(?P<r{index}>{body})")
    return re.compile("|".join(parts))


def _inline(flags: int) -> str:
    letters = {re.IGNORECASE: "i", re.MULTILINE: "m", re.DOTALL: "s"}
    return "".join(letter for flag, letter in letters.items() if flags & flag)
