"""Prompt-injection heuristics: weighted rules, a score in 0..1 and the rule that matched.

Each rule is a regex over the *folded* text (lower-cased; when the text is not plain
ASCII, also NFKC-normalised, stripped of invisible format characters and with Cyrillic
and Greek look-alikes mapped to Latin letters) with a weight: how sure a match alone makes
us. Matches combine as independent evidence (noisy-OR: ``1 - prod(1 - w)``), so two weak
signals together can cross the threshold that neither crosses alone.

Obfuscations are undone only when the text shows them, to keep the common case cheap:
letters spaced out (``i g n o r e``) or written with digits (``1gn0r3``) trigger a check
of the text with every separator removed; a long base64 run is decoded and scored again.
Every rule also names trigger *words*, one of which each match contains as a whole word:
the text is split into its set of words once (punctuation counts as a space), and a rule
none of whose triggers is in that set costs one set intersection, not a regex scan.

Heuristics are not a proof: they catch the well-known phrasings and their common
disguises, and they can be told about in a benign text too ("what does 'ignore previous
instructions' do?" scores high). ``flag`` is the mode to start with.
"""

from __future__ import annotations

import base64
import binascii
import re
import unicodedata
from dataclasses import dataclass, field

DEFAULT_THRESHOLD = 0.5


@dataclass(frozen=True, slots=True)
class InjectionRule:
    name: str
    weight: float
    pattern: str
    #: whole words (lower-case) one of which every match contains
    triggers: tuple[str, ...]
    compiled: re.Pattern[str] = field(init=False, repr=False, compare=False)
    words: frozenset[bytes] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "compiled", re.compile(self.pattern))
        object.__setattr__(self, "words", frozenset(t.encode() for t in self.triggers))


@dataclass(frozen=True, slots=True)
class InjectionVerdict:
    """The combined score, the strongest rule that matched (None: none) and all of them."""

    score: float
    rule: str | None
    rules: tuple[str, ...] = ()


_W = r"[\s,;:\"'*_]+"  # what separates words (markdown emphasis and quotes included)
_VERBS_IGNORE = r"(?:ignore|disregard|forget|override|bypass|abandon|discard|skip)"
_EARLIER = r"(?:previous|prior|above|earlier|preceding|foregoing|initial|original|system|all)"
_ORDERS = (
    r"(?:instructions?|prompts?|rules|directives?|guidelines|commands?|guardrails"
    r"|constraints|programming|restrictions|polic(?:y|ies))"
)

INJECTION_RULES: tuple[InjectionRule, ...] = (
    InjectionRule(
        "ignore_instructions",
        0.9,
        rf"\b{_VERBS_IGNORE}{_W}(?:(?!my\b)[\w'-]+{_W}){{0,3}}?(?:{_EARLIER}|your){_W}"
        rf"(?:[\w'-]+{_W}){{0,2}}?{_ORDERS}\b",
        ("ignore", "disregard", "forget", "override", "bypass", "abandon", "discard", "skip"),
    ),
    InjectionRule(
        "system_prompt_leak",
        0.8,
        r"\b(?:your|the assistant's|the above|this assistant's)\s+(?:system|initial|original"
        r"|hidden|secret|developer|internal)\s*(?:prompt|instructions|message)s?\b"
        r"|\b(?:repeat|print|output|recite|reproduce)\b[^.\n]{0,20}\b(?:words|text|everything"
        r"|all)\s+(?:above|before this|preceding)",
        ("your", "assistant", "above", "before", "preceding"),
    ),
    InjectionRule(
        "system_prompt_request",
        0.45,
        r"\b(?:reveal|show|print|repeat|output|display|leak|dump|disclose|share)\b[^.\n]{0,30}"
        r"\bthe\s+(?:system|initial|hidden|secret)\s+(?:prompt|instructions)\b",
        (
            "reveal",
            "show",
            "print",
            "repeat",
            "output",
            "display",
            "leak",
            "dump",
            "disclose",
            "share",
        ),
    ),
    InjectionRule(
        "jailbreak_persona",
        0.85,
        r"\b(?:do anything now|developer mode (?:enabled|output|activated)|(?:dan|stan|aim|god"
        r"|jailbreak) mode|evil confidant|anti-?dan|betterdan)\b"
        r"|\b(?:you are|you're|act as|pretend to be|you will be|become|roleplay as) (?:now )?dan\b",
        ("anything", "mode", "confidant", "antidan", "anti", "betterdan", "dan"),
    ),
    InjectionRule(
        "role_override",
        0.7,
        r"\b(?:you are now|you're now|act as|pretend (?:to be|you are|you're)|roleplay as"
        r"|simulate|become)\s+(?:an?\s+)?(?:[\w-]+\s+){0,2}?(?:unfiltered|unrestricted"
        r"|uncensored|jailbroken|amoral|unethical|unaligned|rogue|evil)\b",
        (
            "unfiltered",
            "unrestricted",
            "uncensored",
            "jailbroken",
            "amoral",
            "unethical",
            "unaligned",
            "rogue",
            "evil",
        ),
    ),
    InjectionRule(
        "no_restrictions",
        0.35,
        r"\b(?:without|no|free (?:of|from)|not bound by)\s+(?:any\s+)?(?:ethical\s+|moral\s+"
        r"|safety\s+|content\s+)?(?:restrictions|filters|limitations|guidelines|censorship"
        r"|safeguards)\b",
        ("restrictions", "filters", "limitations", "guidelines", "censorship", "safeguards"),
    ),
    # "disable your safety filters" addresses the model; "disable the content filter in
    # Azure" is a how-to question: the possessive is what tells them apart
    InjectionRule(
        "disable_safety",
        0.7,
        r"\b(?:disable|turn off|deactivate|remove|bypass|circumvent|ignore)\s+your\s+"
        r"(?:safety|content|ethical|moral)?\s*(?:filters?|guardrails|safeguards|restrictions"
        r"|protocols|guidelines|training)\b",
        ("your",),
    ),
    InjectionRule(
        "safety_off_request",
        0.35,
        r"\b(?:disable|turn off|deactivate|remove|bypass|circumvent)\s+(?:all\s+|the\s+)?"
        r"(?:safety|content|ethical|moral)\s*(?:filters?|guardrails|safeguards|restrictions)\b",
        ("safety", "content", "ethical", "moral"),
    ),
    InjectionRule(
        "chat_template_tokens",
        0.6,
        r"<\|(?:im_start|im_end|system|user|assistant|endoftext|start_header_id|end_header_id"
        r"|eot_id)\|>|\[/?inst\]|<</?sys>>|</?system>",
        (
            "im_start",
            "im_end",
            "system",
            "user",
            "assistant",
            "endoftext",
            "start_header_id",
            "end_header_id",
            "eot_id",
            "inst",
            "sys",
        ),
    ),
    InjectionRule(
        "fake_turn",
        0.4,
        r"(?:^|\n)[ \t]*(?:#{1,3}[ \t]*)?(?:system|assistant|developer)[ \t]*:[ \t]",
        ("system", "assistant", "developer"),
    ),
    InjectionRule(
        "new_instructions",
        0.45,
        r"\b(?:new|updated|real|actual|revised|true)\s+(?:system\s+)?(?:instructions|rules"
        r"|directives)\s*[:\-]|\byour new (?:role|task|instructions|purpose) (?:is|are)\b",
        ("instructions", "rules", "directives", "role", "task", "purpose"),
    ),
    InjectionRule(
        "addressed_to_model",
        0.45,
        r"\b(?:attention|note to|message to|instructions? (?:to|for)|important)[\s:,!]+(?:the\s+"
        r"|all\s+|any\s+)?(?:ai|assistant|llm|language model|chatbot|agent)s?\b",
        ("attention", "note", "message", "instruction", "instructions", "important"),
    ),
    InjectionRule(
        "decode_and_follow",
        0.45,
        r"\b(?:decode|base64|rot13|hex|reverse|decrypt)\b[^.\n]{0,40}\b(?:and|then)\s+(?:follow"
        r"|execute|obey|run|do|perform|carry out)\b",
        ("decode", "base64", "rot13", "hex", "reverse", "decrypt"),
    ),
)

# --- disguises -----------------------------------------------------------------------

#: Cyrillic and Greek letters drawn like Latin ones (NFKC leaves them alone)
_HOMOGLYPHS = str.maketrans(
    "аеорсухіјѕԁɡһӏАВЕКМНОРСТХІЈЅαβεικνορτυχΑΒΕΗΙΚΜΝΟΡΤΥΧ",
    "aeopcyxijsdghlABEKMHOPCTXIJSabeiknoptuxABEHIKMNOPTYX",
)
#: digits and signs written for letters, and the separators the compact form drops
_LEET = str.maketrans("0134579@$!|", "oieastgasil")
_NON_LETTERS = re.compile(r"[^a-z]+")
_SHAPE = bytes(
    ord("a")
    if chr(b).isalpha() and b < 128
    else ord("1")
    if chr(b).isdigit()
    else ord(" ")
    if chr(b) in " .-_*|/\\"
    else ord("#")
    for b in range(256)
)
#: base64's alphabet -> 'b', everything else -> ' '
_B64_SHAPE = bytes(
    ord("b") if (chr(b).isalnum() and b < 128) or chr(b) in "+/" else ord(" ") for b in range(256)
)
_B64_RUN = re.compile(r"[A-Za-z0-9+/]{24,}={0,2}")
_COMPACT_RULES = (
    (
        "obfuscated:ignore_instructions",
        re.compile(
            r"(?:ignore|disregard|forget|override|bypass)(?:all|the|any|your)?(?:previous|prior"
            r"|above|earlier|system)?(?:instructions?|prompts?|rules|guidelines)"
        ),
    ),
    (
        "obfuscated:system_prompt_leak",
        re.compile(
            r"(?:reveal|show|print|repeat|tell|give|leak|dump)(?:me)?(?:your|the)(?:system"
            r"|initial|hidden|secret)(?:prompt|instructions)"
        ),
    ),
    ("obfuscated:jailbreak_persona", re.compile(r"doanythingnow|developermode(?:enabled|output)")),
)


def fold(text: str) -> str:
    """Lower-case; for non-ASCII text also NFKC, no format characters, Latin look-alikes."""
    if text.isascii():
        return text.lower()
    text = unicodedata.normalize("NFKC", text)
    text = "".join(c for c in text if unicodedata.category(c) != "Cf")
    return text.translate(_HOMOGLYPHS).lower()


_WORD_BYTES = bytes(
    b if b < 128 and (chr(b).isalnum() or chr(b) == "_") else ord(" ") for b in range(256)
)
#: single letters that ordinary text has as words ("a", "I", "it's", "don't", "I'd", "e.g.")
_COMMON_SINGLES = frozenset(b"aistdmegx")
_SINGLES = frozenset(bytes([c]) for c in b"abcdefghijklmnopqrstuvwxyz" if c not in _COMMON_SINGLES)


def words_of(folded: str) -> set[bytes]:
    """The set of words of a folded text (ASCII letters, digits and ``_``)."""
    return set(folded.encode("ascii", "replace").translate(_WORD_BYTES).split())


def _disguised(words: set[bytes]) -> bool:
    """Whether letters are spaced out (``i g n o r e``: many uncommon one-letter words) or
    mixed with digits (``1gn0r3``: two or more words of both)."""
    if len(words & _SINGLES) >= 4:
        return True
    mixed = 0
    for word in words:
        if not word.isalpha() and word.isalnum() and not word.isdigit():
            mixed += 1
            if mixed >= 2:
                return True
    return False


def _compact_hits(folded: str) -> list[tuple[str, float]]:
    compact = _NON_LETTERS.sub("", folded.translate(_LEET))
    return [(name, 0.9) for name, pattern in _COMPACT_RULES if pattern.search(compact)]


def _decoded_runs(text: str) -> list[str]:
    """Readable text hidden in base64 runs of 24+ characters."""
    if b"b" * 24 not in text.encode("ascii", "replace").translate(_B64_SHAPE):
        return []
    found = []
    for run in _B64_RUN.findall(text)[:8]:
        try:
            raw = base64.b64decode(run + "=" * (-len(run) % 4))
            decoded = raw.decode("utf-8")
        except (binascii.Error, ValueError):
            continue
        if decoded.isprintable() or all(c.isprintable() or c in "\n\t\r" for c in decoded):
            found.append(decoded)
    return found


# --- scoring ---------------------------------------------------------------------------


def _rule_hits(folded: str, words: set[bytes]) -> list[tuple[str, float]]:
    return [
        (rule.name, rule.weight)
        for rule in INJECTION_RULES
        if not rule.words.isdisjoint(words) and rule.compiled.search(folded)
    ]


def _hits(text: str, *, decode: bool) -> list[tuple[str, float]]:
    folded = fold(text)
    words = words_of(folded)
    hits = _rule_hits(folded, words)
    if not text.isascii() or _disguised(words):
        hits += _compact_hits(folded)
    if decode:
        for decoded in _decoded_runs(text):
            hits += [(f"encoded:{name}", w) for name, w in _hits(decoded, decode=False)]
    return hits


def score_injection(text: str) -> InjectionVerdict:
    """Score one text: the noisy-OR of the weights of the rules that matched."""
    hits = _hits(text, decode=True)
    if not hits:
        return InjectionVerdict(0.0, None)
    remaining = 1.0
    for _, weight in {name: w for name, w in hits}.items():
        remaining *= 1.0 - weight
    top = max(hits, key=lambda hit: hit[1])[0]
    return InjectionVerdict(
        round(1.0 - remaining, 3), top, tuple(dict.fromkeys(n for n, _ in hits))
    )
