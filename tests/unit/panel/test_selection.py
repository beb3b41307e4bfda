"""Diverse picks: one model per maker first, rank order kept."""

from __future__ import annotations

from orchestra.catalog.makers import maker_of
from orchestra.catalog.models import ModelInfo
from orchestra.panel.selection import diverse


def _m(model_id: str) -> ModelInfo:
    return ModelInfo(id=model_id, context_window=8000, input_price=0, output_price=0, quality=1)


RANKED = [
    _m("openai/gpt-5"),
    _m("openrouter/openai/gpt-4.1"),
    _m("anthropic/claude-sonnet-4-5"),
    _m("gemini/gemini-2.5-pro"),
    _m("groq/llama-3.3-70b-versatile"),
    _m("openrouter/meta-llama/llama-3.3-70b-instruct"),
]


def test_one_per_maker_first_in_rank_order() -> None:
    picks = [m.id for m in diverse(RANKED, 4)]
    assert picks == [
        "openai/gpt-5",
        "anthropic/claude-sonnet-4-5",
        "gemini/gemini-2.5-pro",
        "groq/llama-3.3-70b-versatile",
    ]


def test_fills_up_by_rank_when_makers_run_out() -> None:
    picks = [m.id for m in diverse(RANKED, 6)]
    assert picks == [m.id for m in RANKED]
    assert [m.id for m in diverse(RANKED[:2], 3)] == [m.id for m in RANKED[:2]]


def test_makers_are_recognised_across_hosts() -> None:
    assert maker_of("openrouter/openai/gpt-4.1") == maker_of("openai/gpt-5") == "openai"
    assert maker_of("groq/llama-3.3-70b-versatile") == "meta"
    assert maker_of("openrouter/meta-llama/llama-3.3-70b-instruct") == "meta"
    assert maker_of("bedrock/anthropic.claude-3-5-sonnet-20240620-v1:0") == "anthropic"
    assert maker_of("bedrock/amazon.nova-pro-v1:0") == "amazon"
    assert maker_of("gemini/gemini-2.5-pro") == "google"
    assert maker_of("simulator/sim-large") != maker_of("simulator/sim-small")
    assert maker_of("together/unknownco/thing-7b") == "unknownco"
