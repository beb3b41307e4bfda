"""Entity resolution: the same model under every vendor's spelling, and never two models
merged (the traps: gpt-4o / gpt-4o-mini, llama-3.1-8b / llama-3.1-70b ...)."""

from __future__ import annotations

from typing import Any

import pytest

from orchestra.catalog.models import Catalog, ModelInfo
from orchestra.sync.names import parse_name
from orchestra.sync.records import SourceRecord
from orchestra.sync.resolve import Resolver


def _model(model_id: str, upstream: str = "", **kw: Any) -> ModelInfo:
    return ModelInfo(
        id=model_id,
        upstream_model=upstream,
        context_window=128_000,
        input_price=1e-6,
        output_price=2e-6,
        quality=1200,
        **kw,
    )


def _record(ref: str, *names: str) -> SourceRecord:
    return SourceRecord("test", ref, {"quality": 1300.0}, names)


SAME = [
    ("openai/gpt-4o", "gpt-4o-2024-08-06"),
    ("openai/gpt-4o", "GPT-4o"),
    ("anthropic/claude-sonnet-4.5", "claude-sonnet-4-5-20250929"),
    ("anthropic/claude-3.5-haiku", "claude-3-5-haiku-20241022"),
    ("claude-3.5-haiku", "claude-haiku-3.5"),
    ("amazon.nova-pro-v1:0", "amazon-nova-pro-v1.0"),
    ("amazon/nova-pro-v1", "amazon.nova-pro-v1:0"),
    ("us.anthropic.claude-sonnet-4-5-20250929-v1:0", "claude-sonnet-4-5-20250929"),
    ("qwen/qwen-2.5-72b-instruct", "qwen2.5-72b-instruct"),
    ("meta-llama/Llama-3.1-8B-Instruct", "llama-3.1-8b-instruct"),
    ("Meta-Llama-3.1-70b-Instruct", "meta-llama/llama-3.1-70b-instruct"),
    ("google/gemma-2-27b-it", "gemma-2-27b"),
    ("mistralai/mistral-large", "mistral-large-2411"),
    ("llama-3.1-405b-instruct-fp8", "llama-3.1-405b-instruct-bf16"),
]
DIFFERENT = [
    ("gpt-4o", "gpt-4o-mini"),
    ("gpt-4o", "gpt-4.1"),
    ("gpt-4o", "chatgpt-4o-latest-20250326"),
    ("gpt-4o", "openai/gpt-4o:extended"),
    ("gpt-4o", "gpt-4o-audio-preview"),
    ("gpt-4.1", "gpt-4.1-nano-2025-04-14"),
    ("gpt-5", "gpt-5-chat"),
    ("gpt-5", "gpt-5-high"),
    ("o3", "o3-mini"),
    ("llama-3.1-8b-instruct", "llama-3.1-70b-instruct"),
    ("llama-3.1-70b-instruct", "llama-3.3-70b-instruct"),
    ("llama-3.1-70b-instruct", "llama-3.1-nemotron-70b-instruct"),
    ("llama-3.1-70b-instruct", "nousresearch/hermes-3-llama-3.1-70b"),
    ("llama-3.1-70b-instruct", "llama-3.1-tulu-3-70b"),
    ("claude-sonnet-4", "claude-sonnet-4.5"),
    ("claude-opus-4", "claude-opus-4-1-20250805"),
    ("claude-sonnet-4-5-20250929", "claude-sonnet-4-5-20250929-thinking-32k"),
    ("gemini-2.5-flash", "gemini-2.5-flash-lite"),
    ("gemini-2.5-pro", "gemini-2.5-pro-preview-05-06"),
    ("amazon-nova-lite-v1.0", "amazon-nova-micro-v1.0"),
    ("mistral-large", "mixtral-8x22b"),
    ("deepseek-v3", "deepseek-v3.2-exp"),
    ("hermes-3-llama-3.1-405b", "nousresearch/hermes-3-llama-3.1-405b:free"),
    ("qwen2.5-72b-instruct", "qwen2.5-72b-instruct-turbo"),
]


@pytest.mark.parametrize(("a", "b"), SAME)
def test_one_model_under_two_spellings_matches(a: str, b: str) -> None:
    assert Resolver.similarity(parse_name(a), parse_name(b)) == 100.0


@pytest.mark.parametrize(("a", "b"), DIFFERENT)
def test_two_models_never_match(a: str, b: str) -> None:
    resolver = Resolver([_record(b)])
    assert resolver.match(_model(f"x/{a}")) is None
    assert Resolver.similarity(parse_name(a), parse_name(b)) < resolver.threshold


def test_an_unknown_word_spelt_apart_matches_by_the_fuzzy_ratio_over_the_threshold() -> None:
    # Given a name whose unknown words are split differently ("deep research" / "deepresearch")
    ours, theirs = "alibaba/tongyi-deepresearch-30b-a3b", "tongyi-deep-research-30b-a3b"
    # Then the guard tokens (30b, a3b) agree and rapidfuzz decides
    score = Resolver.similarity(parse_name(ours), parse_name(theirs))
    assert 90 <= score < 100
    assert Resolver([_record(theirs)]).match(_model(f"openrouter/{ours}")) is not None
    # And a stricter threshold refuses it
    strict = Resolver([_record(theirs)], threshold=99)
    assert strict.match(_model(f"openrouter/{ours}")) is None


def test_explicit_aliases_link_vendor_names_no_normalisation_can() -> None:
    # Groq's "-instant"/"-versatile" and DeepSeek's "deepseek-chat"
    resolver = Resolver(
        [
            _record("llama-3.1-8b-instruct"),
            _record("llama-3.3-70b-instruct"),
            _record("deepseek-v3"),
        ]
    )
    assert resolver.match(_model("groq/llama-3.1-8b-instant")).record.ref == (  # type: ignore[union-attr]
        "llama-3.1-8b-instruct"
    )
    versatile = resolver.match(_model("groq/llama-3.3-70b-versatile"))
    assert versatile is not None and versatile.record.ref == "llama-3.3-70b-instruct"
    chat = resolver.match(_model("deepseek/deepseek-chat"))
    assert chat is not None and chat.record.ref == "deepseek-v3" and chat.score == 100.0


def test_the_models_own_snapshot_then_the_undated_name_then_the_latest_snapshot() -> None:
    records = [
        _record("gpt-4o-2024-05-13"),
        _record("gpt-4o-2024-08-06"),
        _record("claude-sonnet-4-20250514"),
        _record("deepseek-r1"),
        _record("deepseek-r1-0528"),
    ]
    resolver = Resolver(records)
    latest = resolver.match(_model("openai/gpt-4o"))
    assert latest is not None and latest.record.ref == "gpt-4o-2024-08-06"
    pinned = resolver.match(_model("openai/gpt-4o-may", "gpt-4o-2024-05-13"))
    assert pinned is not None and pinned.record.ref == "gpt-4o-2024-05-13"
    undated = resolver.match(_model("openrouter/deepseek/deepseek-r1"))
    assert undated is not None and undated.record.ref == "deepseek-r1"


def test_a_record_is_found_by_any_of_its_names() -> None:
    # OpenRouter's canonical slug, a Hub repository, a provider's own id
    record = _record("deepseek/deepseek-chat", "deepseek-ai/DeepSeek-V3")
    found = Resolver([record]).match(_model("together/deepseek-v3", "deepseek-ai/DeepSeek-V3"))
    assert found is not None and found.via == ("deepseek-v3", "deepseek-ai/DeepSeek-V3")


def test_simulated_models_are_never_synced() -> None:
    catalog = Catalog([_model("simulator/gpt-4o"), _model("openai/gpt-4o")])
    matches = Resolver([_record("gpt-4o")]).resolve(catalog)
    assert [m.model_id for m in matches] == ["openai/gpt-4o"]


def test_every_catalog_model_resolves_against_the_recorded_sources(recorded: Any) -> None:
    from orchestra.catalog.models import load_snapshot
    from orchestra.sync.lmarena import LMArenaSource
    from orchestra.sync.openrouter import OpenRouterSource

    # Given the recorded OpenRouter listing and LMArena leaderboard
    openrouter = OpenRouterSource("u").parse(recorded.json("openrouter/models_full.json"), "f")
    arena = LMArenaSource("u").parse(
        recorded.json("leaderboards/lmarena_text_full_category.json"), "f"
    )
    catalog = load_snapshot()
    # Then the bundled models resolve to the records a person would pick
    by_or = {m.model_id: m.record.ref for m in Resolver(openrouter.records).resolve(catalog)}
    by_arena = {m.model_id: m.record.ref for m in Resolver(arena.records).resolve(catalog)}
    assert by_or["openai/gpt-4o"] == "openai/gpt-4o"
    assert by_or["openai/gpt-4o-mini"] == "openai/gpt-4o-mini"
    assert by_or["anthropic/claude-sonnet-4-5"] == "anthropic/claude-sonnet-4.5"
    assert by_or["gemini/gemini-2.0-flash"] == "google/gemini-2.0-flash-001"
    assert by_or["groq/llama-3.1-8b-instant"] == "meta-llama/llama-3.1-8b-instruct"
    assert by_or["bedrock/amazon.nova-pro-v1:0"] == "amazon/nova-pro-v1"
    assert by_arena["openai/gpt-4o"] == "gpt-4o-2024-08-06"
    assert by_arena["openai/gpt-4o-mini"] == "gpt-4o-mini-2024-07-18"
    assert by_arena["groq/llama-3.1-8b-instant"] == "llama-3.1-8b-instruct"
    assert by_arena["bedrock/amazon.nova-lite-v1:0"] == "amazon-nova-lite-v1.0"
    assert by_arena["openrouter/qwen/qwen-2.5-72b-instruct"] == "qwen2.5-72b-instruct"
    # And a model the leaderboard only lists at another effort level stays unmatched
    assert "openai/gpt-5" not in by_arena  # only "gpt-5-high" / "gpt-5-chat" are rated
