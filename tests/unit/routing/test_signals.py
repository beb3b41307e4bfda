"""Routing's cheap signals, pinned to their numbers: complexity, token estimates, scores.

Each figure here feeds a ranking or a filter; a sign or a factor gone wrong would reorder
models without any other test noticing (mutation testing found these gaps).
"""

from __future__ import annotations

from typing import Any

import pytest

from orchestra.catalog.models import ModelInfo
from orchestra.errors import InvalidRequest
from orchestra.routing import scorer
from orchestra.routing.complexity import classify, score_complexity
from orchestra.routing.profiles import PROFILES, get_profile
from orchestra.schemas.chat import ChatRequest
from orchestra.tokens import IMAGE_TOKENS, estimate_prompt_tokens


def _chat(text: str = "", **extra: Any) -> ChatRequest:
    messages = extra.pop("messages", None) or [{"role": "user", "content": text}]
    return ChatRequest.model_validate({"model": "auto", "messages": messages, **extra})


def test_length_adds_a_thousandth_per_four_characters_up_to_a_cap() -> None:
    assert score_complexity(_chat("a" * 800)) == pytest.approx(0.2)
    assert score_complexity(_chat("a" * 8000)) == pytest.approx(0.35)


def test_each_hard_word_adds_on_top_of_length() -> None:
    text = "prove derive"
    assert score_complexity(_chat(text)) == pytest.approx(0.3 + len(text) / 4000)
    many = "prove derive analyse refactor debug"
    assert score_complexity(_chat(many)) == pytest.approx(0.45 + len(many) / 4000)


def test_code_lists_tools_depth_and_greetings_move_the_score() -> None:
    base = "x" * 400  # 0.1
    assert score_complexity(_chat(base + "\n```")) == pytest.approx(0.3 + 4 / 4000)
    assert score_complexity(_chat(base + "???")) == pytest.approx(0.2 + 3 / 4000)
    tools = [{"type": "function", "function": {"name": "f"}}]
    assert score_complexity(_chat(base, tools=tools)) == pytest.approx(0.2)
    deep = [{"role": "user", "content": base}] * 7
    assert score_complexity(_chat(messages=deep)) == pytest.approx(0.2)
    greeting = "hello, prove derive"  # a short greeting takes 0.2 off
    assert score_complexity(_chat(greeting)) == pytest.approx(0.3 + len(greeting) / 4000 - 0.2)


def test_classes_start_at_their_thresholds() -> None:
    assert classify(_chat("a" * 599)) == "simple"
    assert classify(_chat("a" * 600)) == "medium"  # exactly 0.15
    assert classify(_chat("prove derive analyse")) == "complex"


def test_token_estimate_counts_every_message_images_tool_calls_and_tools() -> None:
    one = _chat("abcd" * 9)  # 36 characters: 11 tokens, plus 4 per message, plus 3
    assert estimate_prompt_tokens(one) == 18
    two = _chat(messages=[{"role": "user", "content": "abcd" * 9}] * 2)
    assert estimate_prompt_tokens(two) == 33
    parts = [
        {"type": "text", "text": "abcd" * 9},
        {"type": "image_url", "image_url": {"url": "https://x.test/a.png"}},
        {"type": "image_url", "image_url": {"url": "https://x.test/b.png"}},
    ]
    assert estimate_prompt_tokens(_chat(messages=[{"role": "user", "content": parts}])) == (
        18 + 2 * IMAGE_TOKENS
    )
    call = {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    asked = [{"role": "assistant", "content": "abcd" * 9, "tool_calls": [call]}]
    assert estimate_prompt_tokens(_chat(messages=asked)) > 18 + 10
    tools = [{"type": "function", "function": {"name": "lookup", "parameters": {}}}]
    assert estimate_prompt_tokens(_chat("abcd" * 9, tools=tools)) > 18 + 10


def test_scales_run_from_one_to_zero_between_their_anchors() -> None:
    assert scorer.speed_score(50.0) == 1.0 and scorer.speed_score(20_000.0) == 0.0
    assert 0.0 < scorer.speed_score(1000.0) < 1.0
    assert scorer.cost_score(0.0) == 1.0 and scorer.cost_score(1e-8) == 1.0
    assert scorer.cost_score(1e-4) == 0.0 and 0.0 < scorer.cost_score(1e-6) < 1.0


def test_observed_latency_swaps_generation_time_for_a_typical_answer() -> None:
    model = ModelInfo(
        id="p/m", context_window=8000, input_price=0, output_price=0, quality=1, tokens_per_s=100
    )
    # 1000 ms for 50 tokens at 10 ms each: 500 ms to the first token, then 300 typical tokens
    assert scorer.comparable_latency_ms(model, 1000.0, 50) == pytest.approx(3500.0)


def test_quality_range_spans_the_catalog() -> None:
    def model(q: float) -> ModelInfo:
        return ModelInfo(id=f"p/{q}", context_window=1, input_price=0, output_price=0, quality=q)

    assert scorer.quality_range([]) == (0.0, 1.0)
    assert scorer.quality_range([model(1200)]) == (1199.0, 1200)
    assert scorer.quality_range([model(1100), model(1300)]) == (1100, 1300)


def test_breakdown_names_each_feature_rounded() -> None:
    features = scorer.Features(0.12345, 0.23456, 0.34567, 0.45678)
    profile = PROFILES["long_context"]
    assert features.breakdown(profile) == {
        "score": round(features.score(profile), 4),
        "quality": 0.123,
        "speed": 0.235,
        "cost": 0.346,
        "context": 0.457,
    }
    assert features.with_speed(0.9) == scorer.Features(0.12345, 0.9, 0.34567, 0.45678)


def test_an_unknown_profile_names_the_parameter_and_the_choices() -> None:
    with pytest.raises(InvalidRequest) as caught:
        get_profile("turbo")
    assert caught.value.param == "profile"
    assert caught.value.message.endswith(
        "use one of: quality, balanced, speed, budget, long_context"
    )


def test_shifted_profiles_keep_their_weights_summing_to_one_and_their_description() -> None:
    for profile in PROFILES.values():
        for complexity in ("simple", "medium", "complex"):
            shifted = profile.shifted(complexity)  # type: ignore[arg-type]
            total = shifted.quality + shifted.speed + shifted.cost + shifted.context
            assert total == pytest.approx(1.0) and shifted.description == profile.description


def test_expected_latency_adds_a_typical_answers_generation_time() -> None:
    model = ModelInfo(
        id="p/m",
        context_window=8000,
        input_price=0,
        output_price=0,
        quality=1,
        latency_ms=100,
        tokens_per_s=100,
    )
    assert scorer.expected_latency_ms(model) == pytest.approx(100 + 300 / 100 * 1000)
    assert scorer.expected_latency_ms(model, 50) == pytest.approx(600.0)
