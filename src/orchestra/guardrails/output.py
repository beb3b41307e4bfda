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

Cost: a stream pays per chunk, not per character. Each chunk is searched (with the few
characters before it) for *hot tokens*, what some match must contain (a key's prefix, a
digit, ``@``, ``+``, a trigger word); while no token sits within its reach of the release
point, the chunk's settled text is released without any rule running.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence

from orchestra.guardrails.pii import PII_RULES
from orchestra.guardrails.rules import PatternRule, hot_pattern, needs_shape, shape_of
from orchestra.guardrails.secrets import SECRET_RULES

#: characters of released text kept before the held text, for the rules' look-behinds
_CONTEXT = 8
#: the shortest useful look-behind: enough to see any rule's shortest complete prefix
#: (``sk-ant-`` and 32 characters, ``ghp_`` and 36, a named AWS secret and 20)
MIN_LOOKBEHIND = 48


#: how far into a match its first digit may be (an IBAN's check digits follow two
#: letters; a North American number may open with a bracket)
_DIGIT_REACH = 2
#: how far into a match a case-insensitive trigger may be (``client_secret = ...``)
_TRIGGER_REACH = 8


def replacement(rule: str) -> str:
    return f"[REDACTED:{rule}]"


class _Scanner:
    """The rules, and the scan both redactors share: the leftmost match of any rule
    (an earlier rule wins at the same position), one rule's next match cached until the
    scan passes it, so each rule reads the text once."""

    def __init__(self, rules: Sequence[PatternRule]) -> None:
        self.rules = tuple(rules)
        self.tails = [_tail(r) for r in self.rules]
        self._shape = needs_shape(self.rules)
        #: what a match must contain: a stream chunk region without it needs no scan
        self.hot, self.hot_width = hot_pattern(self.rules)
        #: which rules each such literal (lower-cased) or a digit ("0") makes possible, and
        #: how far before the token such a match may start (its reach)
        self._by_token: dict[str, list[int]] = {}
        self.reach: dict[str, int] = {}
        for i, rule in enumerate(self.rules):
            found = [(x, 0) for x in rule.literals]
            found += [(x, _TRIGGER_REACH) for x in rule.triggers]
            found += [(a, rule.reach) for a in rule.anchors if isinstance(a, str)]
            if any(isinstance(a, bytes) for a in rule.anchors):
                found.append(("0", _DIGIT_REACH))
            for token, reach in found:
                key = token.lower()
                self._by_token.setdefault(key, []).append(i)
                self.reach[key] = max(reach, self.reach.get(key, 0))

    def candidates(self, text: str, tokens: Iterable[str], shape: bytes | None) -> list[int]:
        """The rules that may match a stream's buffer, given the hot tokens found in it
        (lower-cased; digits as "0"): cheaper than asking every rule."""
        found: set[int] = set()
        for token in tokens:
            found.update(self._by_token.get(token, ()))
        lowered = text.lower()
        return [i for i in sorted(found) if self.rules[i].possible(text, lowered, shape)]

    def tokens(self, text: str, start: int) -> Iterator[tuple[int, str]]:
        """Where the hot tokens are in ``text[start:]``, lower-cased, digits as "0"."""
        for m in self.hot.finditer(text, start):
            token = m.group()
            yield m.start(), "0" if token.isdigit() else token.lower()

    def scan(
        self,
        text: str,
        pos: int,
        settled: int,
        out: list[str],
        hits: list[str],
        *,
        tokens: Iterable[str] | None = None,
    ) -> tuple[int, tuple[re.Match[str], int] | None]:
        """Redact ``text[pos:]`` into ``out`` as far as outcomes are settled: a match
        starting before ``settled`` is final. Returns the position released up to, and
        the last redacted match and its rule's index when the released text ends with it.
        ``tokens``: a stream buffer's hot tokens (rules are picked by :meth:`candidates`)."""
        last: tuple[re.Match[str], int] | None = None
        for match, index in self._matches(text, pos, settled, tokens):
            rule = self.rules[index]
            out.append(text[pos : match.start()])
            if rule.valid is not None and not rule.valid(match.group()):
                out.append(match.group())
                last = None
            else:
                out.append(replacement(rule.name))
                hits.append(rule.name)
                last = match, index
            pos = match.end()
        stop = max(pos, settled)
        out.append(text[pos:stop])
        return stop, last if stop == pos else None

    def _matches(
        self, text: str, pos: int, settled: int, tokens: Iterable[str] | None = None
    ) -> Iterator[tuple[re.Match[str], int]]:
        """The scan's matches in order, each starting before ``settled``."""
        shape = shape_of(text) if self._shape else None
        if tokens is not None:
            possible = self.candidates(text, tokens, shape)
        else:
            lowered = text.lower()
            possible = [i for i, r in enumerate(self.rules) if r.possible(text, lowered, shape)]
        # per rule that can match: its next match at or after pos (None: no more)
        ahead = {i: self.rules[i].find(text, pos, shape) for i in possible}
        while True:
            best, index = None, -1
            for i, match in ahead.items():
                if match is not None and match.start() < pos:
                    match = ahead[i] = self.rules[i].find(text, pos, shape)
                if match is not None and (best is None or match.start() < best.start()):
                    best, index = match, i
            if best is None or best.start() >= settled:
                return
            yield best, index
            pos = best.end()


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
        #: the hot tokens (what a match needs) in _text: (position, token), in order
        self._tokens: list[tuple[int, str]] = []
        self.rules: list[str] = []

    def feed(self, text: str) -> str:
        """Take the next chunk; returns what may be released now (possibly "")."""
        if not text:
            return ""
        joined = self._text + text
        # look for what a match needs only in the new text (and the few characters before
        # it that a literal may straddle): the rest was looked at before
        start = max(self._pos, len(self._text) - self._scanner.hot_width + 1)
        if self._tokens and self._tokens[-1][0] >= start:  # a literal being re-found
            self._tokens = [t for t in self._tokens if t[0] < start]
        self._tokens.extend(self._scanner.tokens(joined, start))
        if self._tail is None and self._quiet(len(joined)):
            return self._release_plain(joined)
        return self._advance(joined, final=False)

    def _quiet(self, size: int) -> bool:
        """Whether no match can start before the settled point: every match contains a
        hot token no further than that token's reach after its start."""
        settled = size - self._lookbehind + 1
        reach = self._scanner.reach
        return all(at - reach[token] >= settled for at, token in self._tokens)

    def _release_plain(self, text: str) -> str:
        """Nothing a match needs is held: release all but the look-behind, unscanned."""
        released = max(self._pos, len(text) - self._lookbehind + 1)
        out = text[self._pos : released]
        self._keep(text, released)
        return out

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
        tokens = None if final else {t for at, t in self._tokens if at >= pos}
        released, last = self._scanner.scan(
            text, pos, max(settled, pos), out, self.rules, tokens=tokens
        )
        if last is not None and not final and len(last[0].group()) >= self._lookbehind:
            # a match as long as the look-behind may have been cut by the chunk's end:
            # what continues it is swallowed, so no part of a long key leaks
            self._tail = self._scanner.tails[last[1]]
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
        self._tokens = [(at - start, t) for at, t in self._tokens if at >= released]


class OutputRedactor:
    """Replaces secrets and PII in answers with ``[REDACTED:<rule>]``."""

    def __init__(self, rules: Sequence[PatternRule] | None = None) -> None:
        self._scanner = _Scanner(SECRET_RULES + PII_RULES if rules is None else rules)

    def matches(self, text: str) -> list[str]:
        """The texts the redaction would replace or check (for tests of its premises)."""
        return [m.group() for m, _ in self._scanner._matches(text, 0, len(text))]

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
