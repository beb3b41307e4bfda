"""Model names, normalised: the tokens that identify a model across vendors' spellings.

``openai/gpt-4o``, ``gpt-4o-2024-08-06`` and ``GPT-4o`` are one model; ``gpt-4o-mini`` is
another. A name becomes a :class:`Name`:

- ``core``: its identifying tokens in order, with vendor prefixes (``openai/``,
  ``meta-llama/``, Bedrock's ``us.anthropic.``), packaging words (``instruct``, ``fp8``)
  and snapshot dates removed; ``qwen2.5`` and ``qwen-2.5`` give the same tokens, and so do
  Anthropic's ``claude-sonnet-4-5`` and OpenRouter's ``claude-sonnet-4.5``;
- ``guard``: the tokens two names of one model must share exactly: every token with a digit
  (versions ``3.1``, sizes ``8b``, ``4o``) and every known family or variant word
  (``mini``, ``flash``, ``haiku``, ``free``, ``thinking`` ...);
- ``snapshot``: the date or revision (``20240806``, ``0528``, ``001``), used to choose
  between the snapshots of one model, never to tell models apart.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

#: words that name how a model is packaged, not which model it is
NEUTRAL = frozenset(
    {"instruct", "it", "hf", "bf16", "fp16", "fp8", "fp4", "int4", "int8", "awq", "gguf"}
)
#: vendor prefixes dropped when they lead a name (``meta-llama-3.1`` = ``llama-3.1``)
MAKER_WORDS = frozenset(
    {"meta", "openai", "anthropic", "google", "amazon", "mistralai", "microsoft", "nvidia"}
)
#: Bedrock's ``<region>.<vendor>.<model>`` prefixes
BEDROCK_PREFIXES = frozenset(
    {"us", "eu", "apac", "global", "amazon", "anthropic", "meta", "mistral", "cohere", "ai21"}
)
#: families and variants: two names differing in one of these are two models
KNOWN_WORDS = frozenset(
    {
        # families
        *("gpt", "chatgpt", "claude", "gemini", "gemma", "llama", "mistral", "mixtral"),
        *("codestral", "ministral", "pixtral", "magistral", "devstral", "qwen", "qwq"),
        *("deepseek", "nova", "titan", "grok", "command", "phi", "glm", "kimi", "yi"),
        *("jamba", "nemotron", "hermes", "tulu", "olmo", "granite", "sonar", "minimax"),
        # sizes and tiers
        *("nano", "micro", "mini", "lite", "small", "medium", "large", "tiny", "air"),
        *("flash", "pro", "plus", "max", "ultra", "super", "turbo", "fast", "instant"),
        *("haiku", "sonnet", "opus", "scout", "maverick", "premier", "base", "distill"),
        # modes and modalities
        *("free", "thinking", "reasoning", "reasoner", "chat", "coder", "code", "vision"),
        *("audio", "realtime", "image", "search", "online", "preview", "exp", "beta"),
        *("high", "low", "minimal", "extended", "nitro", "omni", "embed", "guard"),
    }
)
_ISO_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})")
_MONTH_YEAR = re.compile(r"(?<![\d.])(0[1-9]|1[0-2])-(20\d{2})(?![\d.])")
_MONTH_DAY = re.compile(r"(?<=[a-z]-)(0[1-9]|1[0-2])-(\d{2})$")
_WORD_DIGIT = re.compile(r"([a-z]{3,})(\d)")
_TOKEN = re.compile(r"\d+(?:\.\d+)*[a-z]*|[a-z]+\d*(?:\.\d+)*[a-z]*")
_ZERO_MINOR = re.compile(r"(?<=\d)(\.0)+$")
_SNAPSHOT = re.compile(r"\d{4}|\d{6}|\d{8}|0\d\d|latest")


@dataclass(frozen=True)
class Name:
    raw: str
    core: tuple[str, ...]
    guard: frozenset[str]
    snapshot: str

    @property
    def key(self) -> str:
        return " ".join(self.core)

    @property
    def sorted_key(self) -> str:
        return " ".join(sorted(self.core))


def _bare(raw: str) -> str:
    """Lower case, no vendor path, Bedrock prefixes, ``~`` or ``:0`` version suffix."""
    text = raw.strip().lower().lstrip("~")
    text = re.sub(r"(\d{8})-v\d+:\d+$", r"\1", text)  # Bedrock's revision of a snapshot
    text = re.sub(r":(\d+)$", r".\1", text)  # amazon.nova-pro-v1:0 -> v1.0
    text = text.rsplit("/", 1)[-1]
    parts = text.split(".")
    while len(parts) > 1 and parts[0] in BEDROCK_PREFIXES and not parts[1][:1].isdigit():
        parts = parts[1:]
    return ".".join(parts)


def _tokens(text: str) -> list[str]:
    text = _ISO_DATE.sub(r"\1\2\3", text)
    text = _MONTH_YEAR.sub(r"\2\1", text)
    text = _MONTH_DAY.sub(r"\1\2", text)
    text = _WORD_DIGIT.sub(r"\1-\2", text.replace(":", "-").replace("_", "-"))
    tokens = _TOKEN.findall(text)
    joined: list[str] = []
    for token in tokens:  # Anthropic's "4-5" is OpenRouter's "4.5"
        if _is_short_number(token) and joined and _is_short_number(joined[-1]):
            joined[-1] = f"{joined[-1]}.{token}"
        else:
            token = token[1:] if re.fullmatch(r"v\d+(\.\d+)*", token) else token
            joined.append(_ZERO_MINOR.sub("", token))  # "1.0" is "1"
    return joined


def _is_short_number(token: str) -> bool:
    return token.isdigit() and len(token) <= 2


def parse_name(raw: str) -> Name:
    tokens = _tokens(_bare(raw))
    while tokens and tokens[0] in MAKER_WORDS and len(tokens) > 1:
        tokens = tokens[1:]
    core: list[str] = []
    snapshots: list[str] = []
    for token in tokens:
        if _SNAPSHOT.fullmatch(token):
            snapshots.append(token)
        elif token not in NEUTRAL:
            core.append(token)
    guard = frozenset(t for t in core if t in KNOWN_WORDS or any(c.isdigit() for c in t))
    return Name(raw, tuple(core), guard, "-".join(snapshots))
