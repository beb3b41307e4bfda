"""What an answer costs, to the nano-dollar, and the most a call can cost before it is made.

Vendors bill four kinds of token, and the unified :class:`~orchestra.schemas.chat.Usage`
says how many of each an answer used (every adapter fills it the same way):

* ``prompt_tokens`` is the whole prompt, *including* the tokens read from the vendor's
  prompt cache (``cached_tokens``) and those written to it (``cache_creation_tokens``).
  Anthropic and Bedrock report the three apart (``input_tokens`` leaves out cache reads and
  writes); OpenAI, Gemini, DeepSeek and OpenRouter report a total with the cached part
  inside it. Pricing the total at the input price and the cached part again is the error
  LiteLLM shipped (#11364, #14849, #29145); here each token is priced exactly once:
  cached at the cache-read price, written at the cache-write price, the rest at the input
  price.
* ``completion_tokens`` *includes* reasoning tokens, and every vendor bills reasoning at the
  output price (OpenAI: "reasoning tokens are billed as output tokens", reasoning guide;
  Anthropic: "you're charged for the full thinking tokens", extended thinking; Gemini: output
  price "including thinking tokens", pricing page; DeepSeek: CoT and answer tokens "priced
  equally", models and pricing). So the completion is priced whole at the output price and
  ``reasoning_tokens`` is never added on top.

A model's cache prices come from the catalog (``ModelInfo.cache_read_price`` and
``cache_write_price``, synced from OpenRouter's ``input_cache_read`` / ``input_cache_write``)
or, when it has none, from its family's published multiples of the input price
(:data:`FAMILY_RATES`). Amounts are exact: per-token prices become ``Decimal`` nano-dollars
and the sum is rounded up once, so a ledger that adds these integers is exact to the cent.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from typing import TYPE_CHECKING

from orchestra.catalog.models import ModelInfo, canonical_name

if TYPE_CHECKING:
    from orchestra.governance.records import Nanos
    from orchestra.schemas.chat import Usage

#: nano-dollars per USD: the ledger's unit (``governance.records.NANOS_PER_USD``, which sits
#: in a layer above the catalog and so is not imported here; a test keeps the two equal)
NANOS_PER_USD = 1_000_000_000
_NANO = Decimal(NANOS_PER_USD)


@dataclass(frozen=True, slots=True)
class CacheRates:
    """A family's cache prices as multiples of its input price, and where they are published."""

    read: Decimal
    write: Decimal
    source: str


def _rates(read: str, write: str, source: str) -> CacheRates:
    return CacheRates(Decimal(read), Decimal(write), source)


_ANTHROPIC = _rates(
    "0.1",
    "1.25",
    "docs.anthropic.com prompt caching and pricing: cache hits 0.1x base input, 5-minute "
    "cache writes 1.25x (1-hour writes 2x); the same on Amazon Bedrock and Vertex AI",
)
_OPENAI = "openai.com/api/pricing, cached input"
_GEMINI = "ai.google.dev/gemini-api/docs/pricing, context caching price"

#: canonical model-name prefix -> cache multiples, the first match wins (the more specific
#: prefixes first). Only the tokens a vendor reports as read from or written to its cache
#: are priced this way, so a host that does not cache is unaffected. Writes carry no premium
#: but at Anthropic (OpenAI's and Gemini's implicit caching charge nothing to write; Gemini's
#: explicit caches bill storage per hour, which is not a per-request price). Figures as
#: published in late 2025; a synced or configured cache price overrides them per model.
FAMILY_RATES: tuple[tuple[str, CacheRates], ...] = (
    ("claude", _ANTHROPIC),
    ("gpt-5", _rates("0.1", "1", f"{_OPENAI}: gpt-5 $0.125 of $1.25, gpt-5-mini $0.025 of $0.25")),
    ("gpt-4-1", _rates("0.25", "1", f"{_OPENAI}: gpt-4.1 $0.50 of $2, -nano $0.025 of $0.10")),
    ("o3-mini", _rates("0.5", "1", f"{_OPENAI}: o3-mini $0.55 of $1.10")),
    ("o3", _rates("0.25", "1", f"{_OPENAI}: o3 $0.50 of $2")),
    ("o4-mini", _rates("0.25", "1", f"{_OPENAI}: o4-mini $0.275 of $1.10")),
    ("codex-mini", _rates("0.25", "1", f"{_OPENAI}: codex-mini $0.375 of $1.50")),
    ("o1", _rates("0.5", "1", f"{_OPENAI}: o1 $7.50 of $15, o1-mini $0.55 of $1.10")),
    ("gpt-4o", _rates("0.5", "1", f"{_OPENAI}: gpt-4o $1.25 of $2.50, -mini $0.075 of $0.15")),
    ("gemini-1-5", _rates("0.25", "1", f"{_GEMINI}: 1.5 models, a quarter of input")),
    ("gemini-2-0", _rates("0.25", "1", f"{_GEMINI}: 2.0 Flash $0.025 of $0.10")),
    ("gemini", _rates("0.1", "1", f"{_GEMINI}: 2.5 Pro $0.125 of $1.25, 3 Pro $0.20 of $2")),
    ("deepseek", _rates("0.1", "1", "api-docs.deepseek.com pricing: cache hit $0.028 of $0.28")),
    ("nova", _rates("0.25", "1", "aws.amazon.com/bedrock/pricing: Nova cache reads 75% off")),
)
#: any other family: cached tokens at the input price (no discount assumed: never under-bills)
NO_DISCOUNT = CacheRates(Decimal(1), Decimal(1), "no published discount assumed")


def family_rates(model: ModelInfo) -> CacheRates:
    """The cache multiples of the family ``model`` belongs to, by its upstream name (so a
    Claude model is priced as Anthropic prices it on Anthropic, Bedrock or Vertex)."""
    name = canonical_name(model.upstream)
    return next((rates for prefix, rates in FAMILY_RATES if name.startswith(prefix)), NO_DISCOUNT)


@dataclass(frozen=True, slots=True)
class Prices:
    """One model's prices per token as exact integers of ``1/scale`` nano-dollars (``scale``
    a power of ten fine enough for every price: $0.075 per million is 75 nanos, scale 1;
    1.25x of $0.15 per million is 187.5 nanos, scale 10), so a cost is integer arithmetic
    and one rounding, with nothing lost."""

    input: int
    output: int
    cache_read: int
    cache_write: int
    #: the most one prompt token can cost: a cache write may cost more than input
    prompt_worst: int
    scale: int

    @classmethod
    def exact(cls, input: Decimal, output: Decimal, read: Decimal, write: Decimal) -> Prices:
        """From nano-dollar decimals, scaled by the finest of their decimal places."""
        scale = 10 ** max(_places(d) for d in (input, output, read, write))
        worst = max(input, write)
        return cls(
            int(input * scale),
            int(output * scale),
            int(read * scale),
            int(write * scale),
            int(worst * scale),
            scale,
        )


def _places(value: Decimal) -> int:
    """Decimal places ``value`` needs (0 for whole numbers and for 3E+2)."""
    exponent = value.normalize().as_tuple().exponent
    return max(-exponent, 0) if isinstance(exponent, int) else 0


def _nanos_per_token(usd: float) -> Decimal:
    # str() gives the float's shortest repr ("3e-06"), which is the price as written
    return Decimal(str(usd)) * _NANO


@lru_cache(maxsize=1024)
def prices(model: ModelInfo) -> Prices:
    """``model``'s prices per token, the catalog's cache prices first, else its family's.
    Cached per model (a catalog refresh brings new ``ModelInfo`` objects, so new entries)."""
    input_price = _nanos_per_token(model.input_price)
    rates = family_rates(model)
    read, write = model.cache_read_price, model.cache_write_price
    return Prices.exact(
        input_price,
        _nanos_per_token(model.output_price),
        input_price * rates.read if read is None else _nanos_per_token(read),
        input_price * rates.write if write is None else _nanos_per_token(write),
    )


def _ceil_div(total: int, scale: int) -> int:
    return -(-total // scale)


def cost_nanos(model: ModelInfo, usage: Usage) -> Nanos:
    """What ``usage`` costs on ``model``, rounded up to the nano-dollar: cached prompt tokens
    at the cache-read price, cache writes at the cache-write price, the rest of the prompt at
    the input price, the completion (reasoning included) at the output price. Counts that do
    not add up (more cached than prompt) are clamped so no token is priced twice."""
    price = prices(model)
    prompt = max(usage.prompt_tokens, 0)
    written = cached = 0
    if (details := usage.prompt_tokens_details) is not None:
        written = min(max(details.cache_creation_tokens, 0), prompt)
        cached = min(max(details.cached_tokens, 0), prompt - written)
    total = (
        (prompt - written - cached) * price.input
        + cached * price.cache_read
        + written * price.cache_write
        + max(usage.completion_tokens, 0) * price.output
    )
    return _ceil_div(total, price.scale)


def cost_usd(model: ModelInfo, usage: Usage) -> float:
    """:func:`cost_nanos` in USD: the figure the ledger settles, in the answer's header."""
    return cost_nanos(model, usage) / NANOS_PER_USD


def worst_case_nanos(model: ModelInfo, prompt_tokens: int, max_output: int | None) -> Nanos:
    """The most one call can cost, which a budget hold reserves: every prompt token at the
    dearer of the input and cache-write prices (no cache discount: it is a worst case) and
    ``max_output`` tokens (the request's limit, else the model's ``max_output_tokens``;
    reasoning is part of it) at the output price. Never less than :func:`cost_nanos` of any
    usage within those counts."""
    price = prices(model)
    output = model.max_output_tokens if max_output is None else max_output
    total = max(prompt_tokens, 0) * price.prompt_worst + max(output, 0) * price.output
    return _ceil_div(total, price.scale)
