"""Each source adapter on its recorded payloads, and on the shapes real payloads drift to:
missing fields, new fields, odd values. Whatever is skipped is reported with its reason."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from orchestra.errors import SyncFailed
from orchestra.sync.huggingface import HuggingFaceSource, native_window, provider_names
from orchestra.sync.lmarena import LMArenaSource
from orchestra.sync.openrouter import OpenRouterSource

OPENROUTER = OpenRouterSource("https://openrouter.test/api/v1/models")
ARENA = LMArenaSource("https://arena.test/leaderboard-text.json")
HUB = HuggingFaceSource("https://hub.test")


def _by_ref(batch: Any) -> dict[str, Any]:
    return {r.ref: r for r in batch.records}


def test_openrouter_full_listing(recorded: Any) -> None:
    batch = OPENROUTER.parse(recorded.json("openrouter/models_full.json"), "models_full.json")
    records = _by_ref(batch)
    # Every listed model is read; only the per-request prices are skipped, with reasons
    assert len(batch.records) == 371
    assert {s.ref for s in batch.skipped} == {
        "openrouter/auto",
        "openrouter/bodybuilder",
        "openrouter/pareto-code",
    }
    assert all("decided per request ('-1')" in s.reason for s in batch.skipped)
    gpt4o = records["openai/gpt-4o"]
    assert gpt4o.fields == {
        "input_price": 2.5e-06,
        "output_price": 1e-05,
        "context_window": 128000,
        "max_output_tokens": 16384,
        "capabilities": ["json", "streaming", "tools", "vision"],
    }
    assert gpt4o.hosts == {"openrouter", "openai"}
    # A Google model is also the Gemini API's offer; an open model is only OpenRouter's
    assert records["google/gemini-2.5-flash"].hosts == {"openrouter", "gemini"}
    llama = records["meta-llama/llama-3.1-8b-instruct"]
    assert llama.hosts == {"openrouter"}
    assert llama.fields["hf_repo"] == "meta-llama/Meta-Llama-3.1-8B-Instruct"
    # Free variants are their own records, priced 0
    free = [r for r in batch.records if r.ref.endswith(":free")]
    assert free and all(r.fields["input_price"] == 0.0 for r in free)


def test_openrouter_cache_prices_are_read_where_listed(recorded: Any) -> None:
    records = _by_ref(OPENROUTER.parse(recorded.json("openrouter/models_full.json"), "f"))
    # Claude lists its cache reads (0.1x) and writes (1.25x); gpt-5 only its reads
    sonnet = records["anthropic/claude-sonnet-4.5"].fields
    assert (sonnet["cache_read_price"], sonnet["cache_write_price"]) == (3e-07, 3.75e-06)
    gpt5 = records["openai/gpt-5"].fields
    assert gpt5["cache_read_price"] == 1.25e-07 and "cache_write_price" not in gpt5
    # a model listing neither keeps its family's default (nothing set, nothing skipped)
    assert not {"cache_read_price", "cache_write_price"} & set(records["openai/gpt-4o"].fields)


def test_openrouter_api_order_subset_with_price_tiers_and_benchmarks(recorded: Any) -> None:
    # The envelope as the API sends it, with pricing.overrides and fields we do not use
    batch = OPENROUTER.parse(recorded.json("openrouter/models_subset_api_order.json"), "f")
    sonnet = _by_ref(batch)["anthropic/claude-sonnet-4"]
    # the base tier's price; top_provider's window (200k), not the 1M beta listing
    assert sonnet.fields["input_price"] == 3e-06
    assert sonnet.fields["context_window"] == 200000
    assert sonnet.fields["max_output_tokens"] == 64000
    assert sonnet.names == ("anthropic/claude-4-sonnet-20250522",)
    assert not batch.skipped


def test_openrouter_tolerates_missing_odd_and_new_fields(recorded: Any) -> None:
    rows = copy.deepcopy(recorded.json("openrouter/models_subset_api_order.json")["data"])
    rows[0].pop("pricing")
    rows[0]["brand_new_field"] = {"anything": [1, 2]}
    rows[1]["pricing"] = {"prompt": "NaN", "completion": True}
    rows[1]["top_provider"] = None
    rows[2]["supported_parameters"] = "tools"  # not a list: capabilities are left alone
    rows[3]["architecture"] = {"output_modalities": ["image"]}
    rows.append({"name": "no id"})
    rows.append("not even an object")
    batch = OPENROUTER.parse({"data": rows}, "f")
    records = _by_ref(batch)
    assert "input_price" not in records[rows[0]["id"]].fields
    assert records[rows[1]["id"]].fields["context_window"] > 0  # from context_length
    assert "capabilities" not in records[rows[2]["id"]].fields
    reasons = {(s.ref, s.reason) for s in batch.skipped}
    assert (rows[0]["id"], "input_price: no pricing.prompt") in reasons
    assert (rows[1]["id"], "input_price: no pricing.prompt") in reasons
    assert (rows[3]["id"], "does not answer in text") in reasons
    assert sum(1 for _, reason in reasons if reason == "no model id") == 2


@pytest.mark.parametrize("payload", [{"models": []}, "text", 42, {"data": {"a": 1}}])
def test_openrouter_refuses_a_payload_of_another_shape(payload: Any) -> None:
    with pytest.raises(ValueError, match="OpenRouter models list"):
        OPENROUTER.parse(payload, "f")


def test_lmarena_leaderboard(recorded: Any) -> None:
    batch = ARENA.parse(recorded.json("leaderboards/lmarena_text_full_category.json"), "f")
    records = _by_ref(batch)
    assert len(records) == 282 and not batch.skipped
    assert records["gemini-2.5-pro"].fields == {"quality": 1464.5}
    assert records["gpt-4o-2024-08-06"].fields["quality"] > 1200


def test_lmarena_picks_its_category_from_the_published_multi_category_file(
    recorded: Any,
) -> None:
    full = recorded.json("leaderboards/lmarena_text_full_category.json")["full"]
    coding = {name: {**row, "rating": row["rating"] - 50} for name, row in full.items()}
    payload = {"coding": coding, "full": full}
    assert _by_ref(ARENA.parse(payload, "f"))["gemini-2.5-pro"].fields["quality"] == 1464.5
    by_coding = LMArenaSource("u", category="coding").parse(payload, "f")
    assert _by_ref(by_coding)["gemini-2.5-pro"].fields["quality"] == 1414.5


def test_lmarena_rows_as_a_list_and_bad_ratings() -> None:
    payload = [
        {"model": "a-1", "score": 1300, "votes": 1234},
        {"model": "b-1", "rating": "1250.25"},
        {"model": "c-1", "rating": 87.5},
        {"model": "d-1"},
        {"no_name": 1},
    ]
    batch = ARENA.parse(payload, "f")
    assert {r.ref: r.fields["quality"] for r in batch.records} == {"a-1": 1300, "b-1": 1250.2}
    assert {s.ref: s.reason for s in batch.skipped} == {
        "c-1": "rating 87.5 is outside (500.0, 3000.0)",
        "d-1": "no arena rating",
    }


def test_lmarena_csv_without_a_rating_column_is_refused_naming_the_columns_expected(
    recorded: Any,
) -> None:
    text = recorded.path("leaderboards/lmsys_leaderboard_table_with_pricing.csv").read_text()
    with pytest.raises(ValueError, match="no rating column") as refused:
        ARENA.parse(text, "f")
    # The message names what was expected and what the file has
    assert "Arena Elo rating" in str(refused.value) and "Elo rating" in str(refused.value)
    assert "its columns are key, Model, MT-bench (score), MMLU" in str(refused.value)


@pytest.mark.parametrize("column", ["Arena Elo rating", "Elo rating"])
def test_lmarena_csv_with_an_elo_column(column: str) -> None:
    text = f"key,Model,{column},MMLU\ngpt-4o-2024-05-13,GPT-4o-2024-05-13,1287,0.887\n"
    (record,) = ARENA.parse(text, "f").records
    assert record.fields == {"quality": 1287.0} and record.names == ("GPT-4o-2024-05-13",)


def _vision_board(full: dict[str, Any], *categories: str) -> dict[str, Any]:
    """The vision leaderboard's shape: its own ``full`` and its own categories."""
    rows = {name: {**row, "rating": row["rating"] - 200} for name, row in full.items()}
    return {"full": rows, **{category: rows for category in categories}}


def test_lmarena_refuses_the_vision_leaderboard_recognised_by_its_categories(
    recorded: Any,
) -> None:
    full = recorded.json("leaderboards/lmarena_text_full_category.json")["full"]
    # Given the vision leaderboard as published today, under a name that says nothing
    payload = _vision_board(full, "captioning", "chinese", "english", "ocr")
    # When it is parsed as the text leaderboard, then it is refused and says which it is
    with pytest.raises(SyncFailed, match="is the LMArena vision leaderboard") as refused:
        ARENA.parse(payload, "board.json")
    assert "categories captioning, ocr" in refused.value.message
    assert not refused.value.retryable


@pytest.mark.parametrize(
    ("origin", "board"),
    [
        ("data/leaderboard-vision.json", "vision"),
        ("https://raw.githubusercontent.com/x/y/main/data/leaderboard-image.json?v=2", "image"),
        ("/tmp/webdev_leaderboard.json", "webdev"),
        ("leaderboard-text-to-image.json", "image"),
    ],
)
def test_lmarena_refuses_a_leaderboard_its_file_or_url_names(
    recorded: Any, origin: str, board: str
) -> None:
    full = recorded.json("leaderboards/lmarena_text_full_category.json")["full"]
    # Given an older vision-shaped file: only categories every leaderboard has
    payload = _vision_board(full, "chinese", "english")
    with pytest.raises(SyncFailed, match=f"is the LMArena {board} leaderboard"):
        ARENA.parse(payload, origin)


@pytest.mark.parametrize(
    "origin",
    ["f", "leaderboard-text.json", "data/leaderboard-text-style-control.json", "vision/x.json"],
)
def test_lmarena_reads_the_text_leaderboard_whatever_its_folder(recorded: Any, origin: str) -> None:
    full = recorded.json("leaderboards/lmarena_text_full_category.json")["full"]
    batch = ARENA.parse({"full": full, "coding": full, "hard_6": full}, origin)
    assert len(batch.records) == 282


def test_huggingface_model_info(recorded: Any) -> None:
    info = recorded.json("huggingface/hub_api_model_info_inference_providers.json")
    batch = HUB.parse(info, "f")
    (record,) = batch.records
    assert record.ref == "meta-llama/Llama-3.1-8B-Instruct"
    assert record.fields == {"hf_repo": "meta-llama/Llama-3.1-8B-Instruct"}
    # The names its providers serve it under become names for the resolver
    assert record.names == (
        "meta-llama/Meta-Llama-3.1-8B-Instruct",
        "meta-llama/Llama-3.1-8B-Instruct",
        "meta-llama/llama-3.1-8b-instruct",
    )
    assert [s.reason for s in batch.skipped] == ["context_window: config.json not in the payload"]


def test_huggingface_with_config_and_the_newer_list_shaped_mapping(recorded: Any) -> None:
    info = recorded.json("huggingface/hub_api_model_info_inference_providers.json")
    info["inferenceProviderMapping"] = [
        {"provider": "groq", "providerId": "llama-3.1-8b-instant", "status": "live"},
        {"provider": "old", "providerId": "retired-name", "status": "error"},
    ]
    entry = {"repo": info["id"], "info": info, "config": {"max_position_embeddings": 131072}}
    (record,) = HUB.parse({"models": [entry]}, "f").records
    assert record.fields["context_window"] == 131072
    assert record.names == ("llama-3.1-8b-instant",)


def test_huggingface_reports_gated_configs_failed_repos_and_non_chat_models() -> None:
    payload = {
        "models": [
            {"repo": "meta-llama/Gated", "info": {"id": "meta-llama/Gated"}, "config_error": "401"},
            {"repo": "gone/repo", "error": "model info: huggingface returned 404: not found"},
            {"info": {"id": "x/embedder", "pipeline_tag": "feature-extraction"}},
        ]
    }
    batch = HUB.parse(payload, "f")
    assert [r.ref for r in batch.records] == ["meta-llama/Gated"]
    assert {s.ref: s.reason for s in batch.skipped} == {
        "meta-llama/Gated": "context_window: 401",
        "gone/repo": "model info: huggingface returned 404: not found",
        "x/embedder": "not a chat model (pipeline_tag feature-extraction)",
    }
    assert batch.failed_fetches == 1
    assert HUB.parse({"models": []}, "f").empty_ok


def test_native_window_reads_nested_text_configs_and_refuses_nonsense() -> None:
    assert native_window({"text_config": {"max_position_embeddings": 131072}}) == 131072
    assert native_window({"max_position_embeddings": 10**30}) is None
    assert native_window({"n_positions": "2048"}) == 2048
    assert provider_names({"inferenceProviderMapping": "weird"}) == []
