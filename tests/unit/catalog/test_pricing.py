"""An answer's cost to the nano-dollar, from the recorded payloads as the adapters read them.

The bug classes are LiteLLM's (#11364, #14849, #29145): cached prompt tokens priced at the
full input price, or counted twice (once in the prompt total, once more as cached), and
reasoning tokens added on top of a completion that already includes them. Every expected
figure below is worked out by hand in nano-dollars per token.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orchestra.catalog.models import ModelInfo
from orchestra.catalog.pricing import (
    FAMILY_RATES,
    NANOS_PER_USD,
    NO_DISCOUNT,
    cost_nanos,
    cost_usd,
    family_rates,
    prices,
    worst_case_nanos,
)
from orchestra.governance import records
from orchestra.providers import anthropic_response, gemini, openai
from orchestra.schemas.chat import Usage

DOCUMENTED = Path(__file__).resolve().parents[2] / "fixtures"


def _documented(name: str) -> Any:
    return json.loads((DOCUMENTED / name).read_text())


def _model(model_id: str, input_usd: float, output_usd: float, **kw: Any) -> ModelInfo:
    return ModelInfo(
        id=model_id,
        context_window=200_000,
        input_price=input_usd,
        output_price=output_usd,
        quality=1200,
        **kw,
    )


SONNET = _model("anthropic/claude-sonnet-4-5", 3e-6, 15e-6, upstream_model="claude-sonnet-4-5")
O4_MINI = _model("openai/o4-mini", 1.1e-6, 4.4e-6)
FLASH = _model("gemini/gemini-2.5-flash", 3e-7, 2.5e-6)
DEEPSEEK = _model("deepseek/deepseek-chat", 2.8e-7, 4.2e-7)


def test_an_openai_answer_with_cached_and_reasoning_tokens() -> None:
    # Given o4-mini's recorded answer: 2006 prompt tokens of which 1920 cached, 300
    # completion tokens of which 256 reasoning ($1.10 / $0.275 cached / $4.40 per million)
    usage = openai.parse_response(
        _documented("openai/openai_cached_reasoning_completion.json"), "m"
    )
    assert usage.usage is not None
    # When it is priced
    nanos = cost_nanos(O4_MINI, usage.usage)
    # Then each token once: 86 fresh, 1920 cached at a quarter, 300 output (reasoning inside)
    assert nanos == 86 * 1100 + 1920 * 275 + 300 * 4400 == 1_942_600
    # not at the full input price, not counted twice, reasoning not added again
    assert nanos != 2006 * 1100 + 300 * 4400
    assert nanos != 2006 * 1100 + 1920 * 275 + 300 * 4400
    assert nanos != 86 * 1100 + 1920 * 275 + (300 + 256) * 4400
    assert cost_usd(O4_MINI, usage.usage) == pytest.approx(0.0019426, abs=1e-12)


def test_an_anthropic_answer_with_cache_reads_and_writes() -> None:
    # Given Claude's documented answer: 12 fresh input tokens, 1500 written to the cache,
    # 2048 read from it, 285 output ($3 input, $3.75 write, $0.30 read, $15 output)
    parsed = anthropic_response.parse_response(
        _documented("anthropic/messages_thinking_tool_use.json"), "m"
    )
    assert parsed.usage is not None
    assert parsed.usage.prompt_tokens == 12 + 1500 + 2048
    # Then writes cost 1.25x, reads 0.1x, the rest the input price
    expected = 12 * 3000 + 1500 * 3750 + 2048 * 300 + 285 * 15000
    assert cost_nanos(SONNET, parsed.usage) == expected == 10_550_400


def test_a_gemini_answer_with_cached_and_thought_tokens() -> None:
    # Given Gemini's documented answer: 1034 prompt (1024 cached), 11 answer + 217 thoughts
    parsed = gemini.parse_response(_documented("gemini/generate_content_thinking.json"), "m")
    assert parsed.usage is not None
    # Then thoughts are output tokens, priced once; cached at a tenth of $0.30
    expected = 10 * 300 + 1024 * 30 + (11 + 217) * 2500
    assert cost_nanos(FLASH, parsed.usage) == expected == 603_720


def test_a_deepseek_cache_hit_reported_only_in_its_own_field() -> None:
    parsed = openai.parse_response(_documented("openai/deepseek_chat_cache_hit.json"), "m")
    assert parsed.usage is not None
    # 1536 prompt, 1280 hit (a tenth of $0.28), 12 output at $0.42
    assert cost_nanos(DEEPSEEK, parsed.usage) == 256 * 280 + 1280 * 28 + 12 * 420


def test_the_catalogs_cache_prices_win_over_the_family_default() -> None:
    # Given a model whose synced listing names its own cache prices
    model = _model(
        "openrouter/anthropic/claude-sonnet-4",
        3e-6,
        15e-6,
        cache_read_price=2e-7,
        cache_write_price=5e-6,
    )
    usage = Usage.of(1000, 10, cached=600, cache_creation=300)
    assert cost_nanos(model, usage) == 100 * 3000 + 600 * 200 + 300 * 5000 + 10 * 15000


@pytest.mark.parametrize(
    ("upstream", "read", "write"),
    [
        ("claude-sonnet-4-5-20250929", "0.1", "1.25"),
        ("us.anthropic.claude-3-5-haiku-20241022-v1:0", "0.1", "1.25"),  # Bedrock Claude
        ("gpt-4o-mini", "0.5", "1"),
        ("o1-mini", "0.5", "1"),
        ("o3-mini", "0.5", "1"),
        ("o3", "0.25", "1"),
        ("gpt-4.1-nano", "0.25", "1"),
        ("gpt-5-mini", "0.1", "1"),
        ("gpt-5.1", "0.1", "1"),
        ("gemini-2.0-flash-001", "0.25", "1"),
        ("models/gemini-2.5-pro", "0.1", "1"),
        ("deepseek/deepseek-chat", "0.1", "1"),
        ("amazon.nova-pro-v1:0", "0.25", "1"),
        ("llama-3.3-70b-versatile", "1", "1"),  # no published discount: none assumed
    ],
)
def test_family_defaults(upstream: str, read: str, write: str) -> None:
    rates = family_rates(_model(f"p/{upstream}", 1e-6, 1e-6, upstream_model=upstream))
    assert (rates.read, rates.write) == (Decimal(read), Decimal(write))


def test_every_family_rate_names_its_source_and_never_prices_a_write_below_input() -> None:
    for _, rates in (*FAMILY_RATES, ("", NO_DISCOUNT)):
        assert rates.source
        assert 0 < rates.read <= 1 <= rates.write


def test_counts_that_do_not_add_up_never_price_a_token_twice() -> None:
    # An adapter bug reporting more cached tokens than the prompt holds is clamped
    usage = Usage.of(100, 0, cached=150, cache_creation=30)
    assert cost_nanos(SONNET, usage) == 30 * 3750 + 70 * 300


def test_worst_case_uses_the_request_limit_or_the_models_and_the_dearer_prompt_price() -> None:
    model = _model("anthropic/claude-sonnet-4-5", 3e-6, 15e-6, max_output_tokens=64_000)
    # a cache write costs more than input, so every prompt token is held at the write price
    assert worst_case_nanos(model, 1000, 500) == 1000 * 3750 + 500 * 15000
    assert worst_case_nanos(model, 1000, None) == 1000 * 3750 + 64_000 * 15000
    assert worst_case_nanos(O4_MINI, 1000, 0) == 1000 * 1100  # no discount for reads


@settings(max_examples=300, deadline=None)
@given(
    prompt=st.integers(0, 2_000_000),
    cached=st.integers(0, 2_000_000),
    written=st.integers(0, 2_000_000),
    completion=st.integers(0, 200_000),
    reasoning=st.integers(0, 200_000),
    extra_output=st.integers(0, 10_000),
    model=st.sampled_from([SONNET, O4_MINI, FLASH, DEEPSEEK]),
)
def test_the_hold_never_under_reserves(
    prompt: int,
    cached: int,
    written: int,
    completion: int,
    reasoning: int,
    extra_output: int,
    model: ModelInfo,
) -> None:
    # Any usage within the held prompt and output costs no more than the hold
    usage = Usage.of(
        prompt,
        completion,
        cached=min(cached, prompt),
        cache_creation=min(written, prompt - min(cached, prompt)),
        reasoning=min(reasoning, completion),
    )
    assert cost_nanos(model, usage) <= worst_case_nanos(model, prompt, completion + extra_output)


def test_costs_are_exact_integers_that_sum_to_the_cent() -> None:
    # 10,000 one-token answers at $0.075 per million: each rounds up to 75 nanos exactly,
    # and their sum is what one 10,000-token answer costs (float sums drift; these do not)
    model = _model("openai/gpt-4o-mini", 7.5e-8, 3e-7)
    one = cost_nanos(model, Usage.of(1, 0))
    assert one == 75
    assert sum(cost_nanos(model, Usage.of(1, 0)) for _ in range(10_000)) == cost_nanos(
        model, Usage.of(10_000, 0)
    )
    # a fraction of a nano-dollar rounds up (a ledger never under-counts)
    assert cost_nanos(_model("x/y", 1e-10, 0.0), Usage.of(1, 0)) == 1


def test_the_unit_is_the_ledgers_and_prices_are_cached_per_model() -> None:
    assert NANOS_PER_USD == records.NANOS_PER_USD
    assert prices(SONNET) is prices(SONNET)
    cheaper = SONNET.model_copy(update={"input_price": 1e-6})
    # same id, other prices: not the cached entry
    assert cost_nanos(cheaper, Usage.of(1, 0)) == 1000


def test_model_cost_keeps_its_plain_estimate() -> None:
    assert SONNET.cost(1000, 100) == pytest.approx(1000 * 3e-6 + 100 * 15e-6)


def test_fractional_nano_prices_stay_exact_until_the_one_rounding() -> None:
    # Claude 3 Haiku at $0.25 per million: a cache write is 312.5 nanos per token
    haiku = _model("anthropic/claude-3-haiku", 2.5e-7, 1.25e-6, upstream_model="claude-3-haiku")
    assert cost_nanos(haiku, Usage.of(1, 0, cache_creation=1)) == 313
    assert cost_nanos(haiku, Usage.of(2, 0, cache_creation=2)) == 625
    # a listed price with sixteen significant digits (OpenRouter's 1/12 of a micro-dollar)
    odd = _model("openrouter/x", 5e-7, 3e-6, cache_write_price=8.333333333333334e-08)
    assert cost_nanos(odd, Usage.of(3, 0, cache_creation=3)) == 251  # 250.00000000000002
