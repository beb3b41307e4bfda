"""Redaction of secrets and personal data in answers, whole or streamed.

Both paths run the same scan (:func:`_Scanner.scan`) so they cannot disagree: the
streamed one only holds back what is not yet *final*. A regex attempt at position ``s``
reads at most the characters of its match and one after it, so when every match is
shorter than the look-behind ``L``, the outcome at ``s`` is settled once ``s + L``
characters have arrived. The stream releases everything before the first unsettled
position, hence:

- for any split of a text into chunks, the released pieces joined with :meth:`flush`
  equal :meth:`OutputRedactor.redact` of the whole text (such matches are caught across
  chunk boundaries);
- the released text never lags the received text by more than ``L`` characters.

A match longer than ``L`` (a 164-character OpenAI project key, a PEM block) is redacted
when its first ``L`` characters are settled; its rule's *tail* pattern then swallows
what follows, so the rest of the key never reaches the client either.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from orchestra.guardrails.pii import PII_RULES
from orchestra.guardrails.rules import PatternRule, combined
from orchestra.guardrails.secrets import SECRET_RULES

#: characters of released text kept before the held text, for the rules' look-behinds
_CONTEXT = 8
#: the shortest useful look-behind: enough to see any rule's shortest complete prefix
#: (``sk-ant-`` and 32 characters, ``ghp_`` and 36, a named AWS secret and 20)
MIN_LOOKBEHIND = 48


def replacement(rule: str) -> str:
    return f"[REDACTED:{rule}]"


class _Scanner:
    """The rules as one alternation, and the scan both redactors share."""

    def __init__(self, rules: Sequence[PatternRule]) -> None:
        self.rules = tuple(rules)
        self.pattern = combined(self.rules)
        self.tails = [_tail(r) for r in self.rules]

    def scan(
        self, text: str, pos: int, settled: int, out: list[str], hits: list[str]
    ) -> tuple[int, re.Match[str] | None]:
        """Redact ``text[pos:]`` into ``out`` as far as outcomes are settled: a match
        starting before ``settled`` is final. Returns the position released up to, and
        the last redacted match when the released text ends with it."""
        search = self.pattern.search
        last = None
        while True:
            match = search(text, pos)
            if match is None or match.start() >= settled:
                stop = max(pos, min(match.start(), settled) if match else settled)
                out.append(text[pos:stop])
                return stop, last if stop == pos else None
            start, end = match.span()
            rule = self.rules[int(match.lastgroup[1:])]  # type: ignore[index]
            out.append(text[pos:start])
            if rule.valid is not None and not rule.valid(match.group()):
                out.append(text[start:end])
                last = None
            else:
                out.append(replacement(rule.name))
                hits.append(rule.name)
                last = match
            pos = end


def _tail(rule: PatternRule) -> tuple[re.Pattern[str], re.Pattern[str] | None] | None:
    if rule.tail is None:
        return None
    return re.compile(rule.tail), re.compile(rule.tail_end) if rule.tail_end else None


class StreamRedactor:
    """Redacts one stream chunk by chunk; :attr:`rules` lists the rules that fired."""

    def __init__(self, scanner: _Scanner, lookbehind: int) -> None:
        if lookbehind < 1:
            raise ValueError("lookbehind must be positive")
        self._scanner = scanner
        self._lookbehind = lookbehind
        self._text = ""  # up to _CONTEXT released characters, then the held ones
        self._pos = 0  # where the held characters start in _text
        self._tail: tuple[re.Pattern[str], re.Pattern[str] | None] | None = None
        self.rules: list[str] = []

    def feed(self, text: str) -> str:
        """Take the next chunk; returns what may be released now (possibly "")."""
        if not text:
            return ""
        return self._advance(self._text + text, final=False)

    def flush(self) -> str:
        """The stream ended: everything held, redacted."""
        return self._advance(self._text, final=True)

    @property
    def held(self) -> int:
        """How many received characters have not been released yet."""
        return len(self._text) - self._pos

    def _advance(self, text: str, *, final: bool) -> str:
        pos = self._pos
        if self._tail is not None:
            pos = self._swallow(text, pos, final)
            if self._tail is not None:  # still inside a long match
                self._keep(text, pos)
                return ""
        out: list[str] = []
        settled = len(text) if final else len(text) - self._lookbehind + 1
        released, last = self._scanner.scan(text, pos, max(settled, pos), out, self.rules)
        if last is not None and not final and last.end() - last.start() >= self._lookbehind:
            # a match as long as the look-behind may have been cut by the chunk's end:
            # what continues it is swallowed, so no part of a long key leaks
            self._tail = self._scanner.tails[int(last.lastgroup[1:])]  # type: ignore[index]
        self._keep(text, released)
        return "".join(out)

    def _swallow(self, text: str, pos: int, final: bool) -> int:
        """Drop what continues the long match being swallowed; returns where that ends
        (and leaves swallowing once the continuation is settled)."""
        assert self._tail is not None
        body, footer = self._tail
        end = body.match(text, pos).end()  # type: ignore[union-attr]
        if end == len(text) and not final:
            return end  # the body may go on in the next chunk
        found = footer.match(text, end) if footer is not None else None
        if found is not None:
            self._tail = None
            return found.end()
        if footer is None or final or len(text) - end >= self._lookbehind:
            self._tail = None
        return end

    def _keep(self, text: str, released: int) -> None:
        start = max(0, released - _CONTEXT)
        self._text = text[start:]
        self._pos = released - start


class OutputRedactor:
    """Replaces secrets and PII in answers with ``[REDACTED:<rule>]``."""

    def __init__(self, rules: Sequence[PatternRule] | None = None) -> None:
        self._scanner = _Scanner(SECRET_RULES + PII_RULES if rules is None else rules)

    def redact(self, text: str) -> tuple[str, list[str]]:
        """The redacted text and the rules that fired (in order, repeated per match)."""
        out: list[str] = []
        hits: list[str] = []
        self._scanner.scan(text, 0, len(text), out, hits)
        return "".join(out), hits

    def stream(self, lookbehind: int) -> StreamRedactor:
        """A redactor for one stream, holding back at most ``lookbehind`` characters
        (raised to :data:`MIN_LOOKBEHIND`: a shorter one could never see a whole key)."""
        return StreamRedactor(self._scanner, max(lookbehind, MIN_LOOKBEHIND))
