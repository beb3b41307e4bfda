"""Where a continuation joins the partial answer: the overlap it may repeat, dropped.

A continuation may begin with text the client already has: whitespace a prefill left out,
or (instruction mode) the end of the partial answer repeated. :class:`Joiner` holds the
continuation's first characters (at most :data:`OVERLAP_WINDOW`, or
:data:`MAX_HELD_CHUNKS` chunks) to find that overlap (:func:`overlap`, whose docstring is
the rule), drops it, then passes chunks straight through.
"""

from __future__ import annotations

from orchestra.schemas.chat import ChatChunk, Delta

#: characters of a continuation held back to find an overlap with the partial answer
OVERLAP_WINDOW = 64
#: chunks held at most while looking for the overlap (a bound when pieces are tiny)
MAX_HELD_CHUNKS = 16
#: a repeat of the partial's end this long is dropped wherever it starts at a word start
MIN_REPEAT_CHARS = 8
#: a repeat that starts inside a word is dropped only when it is this long and runs across
#: a word boundary ("n onyx " after "canyon onyx "): shorter, it may be a coincidence
MIN_SPLIT_REPEAT_CHARS = 4


def overlap(partial: str, start: str, *, prefill: bool) -> int:
    """How many leading characters of ``start`` (a continuation's first characters) the
    client already has at the end of ``partial``.

    Prefill mode: only the whitespace the prefill left out, as far as ``start`` begins
    with it (the model continues exactly; a repeat there is the model's own text).

    Instruction mode: the longest ``k`` such that ``partial`` ends with ``start[:k]`` and
    that overlap is one of: the whole partial (the model started over); at least
    :data:`MIN_REPEAT_CHARS` long from a word start; whole words, from a word start of
    ``partial`` to a word end in ``start`` (``"I read the"`` + ``" the book"``: a model
    told to continue repeats the last word far more often than it means "the the");
    exactly the partial's last word, unfinished (``"Hello, wor"`` + ``"world!"``); or,
    starting inside a word, at least :data:`MIN_SPLIT_REPEAT_CHARS` long and across a word
    boundary (``"canyon onyx "`` + ``"n onyx quartz"``). A shorter overlap inside a word is
    a coincidence and kept (``"Hello, world"`` + ``"old friends"``). Failing all that, the
    left-out whitespace as in prefill mode.
    """
    stripped = partial[len(partial.rstrip()) :]
    if not prefill:
        for k in range(min(len(partial), len(start)), 0, -1):
            if partial.endswith(start[:k]) and _repeat(partial, start, k):
                return k
    return _common_prefix(stripped, start)


def _repeat(partial: str, start: str, k: int) -> bool:
    """Whether the last ``k`` characters of ``partial``, found again at the beginning of
    ``start``, count as a repeat."""
    if k == len(partial):
        return True
    repeated = partial[-k:]
    if _word(partial[-k - 1]) and _word(partial[-k]):  # begins inside a word
        return k >= MIN_SPLIT_REPEAT_CHARS and _crosses_a_word_boundary(repeated)
    if k >= MIN_REPEAT_CHARS:
        return True
    ends_a_word = k == len(start) or not (_word(start[k - 1]) and _word(start[k]))
    if ends_a_word and sum(map(_word, repeated)) >= 2:
        return True
    last_word = _last_word(partial)
    return bool(last_word) and k == len(last_word)


def _crosses_a_word_boundary(text: str) -> bool:
    """Whether ``text`` holds a word character, then a non-word one, then a word one."""
    seen_word = seen_gap = False
    for char in text:
        if _word(char):
            if seen_gap:
                return True
            seen_word = True
        elif seen_word:
            seen_gap = True
    return False


def _last_word(text: str) -> str:
    """The word ``text`` ends in (empty when it ends in a space or punctuation)."""
    end = len(text)
    begin = end
    while begin > 0 and _word(text[begin - 1]):
        begin -= 1
    return text[begin:end]


def _word(char: str) -> bool:
    return char.isalnum() or char == "_"


def _common_prefix(a: str, b: str) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


class Joiner:
    """Holds a continuation's first chunks until :data:`OVERLAP_WINDOW` characters (or a
    finish, a tool call, usage, or the end) arrive, drops the overlap, then passes chunks
    straight through."""

    __slots__ = ("chars", "held", "open", "partial", "prefill")

    def __init__(self, partial: str, *, prefill: bool) -> None:
        self.partial = partial
        self.prefill = prefill
        self.held: list[ChatChunk] = []
        self.chars = 0
        self.open = True

    def feed(self, chunk: ChatChunk) -> list[ChatChunk]:
        if not self.open:
            return [chunk]
        chars = sum(len(c.delta.content or "") for c in chunk.choices)
        if not chars and not self.held and not _ends_window(chunk):
            # nothing to compare yet (a role chunk, reasoning): on it goes, if anything
            return [chunk] if _carries_something(chunk) else []
        self.held.append(chunk)
        self.chars += chars
        full = self.chars >= OVERLAP_WINDOW or len(self.held) >= MAX_HELD_CHUNKS
        if full or _ends_window(chunk):
            return self.flush()
        return []

    def flush(self) -> list[ChatChunk]:
        """The held chunks, overlap dropped (also what to send when the stream ends)."""
        if not self.open:
            return []
        self.open = False
        start = "".join(c.delta.content or "" for h in self.held for c in h.choices)
        drop = overlap(self.partial, start, prefill=self.prefill)
        out = []
        for chunk in self.held:
            for choice in chunk.choices:
                text = choice.delta.content
                if drop and text:
                    cut = min(drop, len(text))
                    choice.delta.content, drop = text[cut:] or None, drop - cut
            if _carries_something(chunk):
                out.append(chunk)
        self.held = []
        return out


def _ends_window(chunk: ChatChunk) -> bool:
    if not chunk.choices or chunk.usage is not None:
        return True
    return any(c.finish_reason is not None or c.delta.tool_calls for c in chunk.choices)


def _carries_something(chunk: ChatChunk) -> bool:
    if not chunk.choices or chunk.usage is not None:
        return True
    return any(c.finish_reason is not None or _delta_carries(c.delta) for c in chunk.choices)


def _delta_carries(delta: Delta) -> bool:
    return bool(
        delta.role
        or delta.content
        or delta.tool_calls
        or delta.reasoning_content
        or delta.reasoning_signature
        or delta.redacted_thinking
    )
