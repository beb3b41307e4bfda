"""The conflict policy: who may set which field of which model, with provenance."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from orchestra.catalog.models import Catalog, FieldSource, ModelInfo
from orchestra.catalog.source import CatalogSource, overlay
from orchestra.storage.memory import MemoryCatalogBackend
from orchestra.sync.merge import plan_updates
from orchestra.sync.records import SourceRecord
from orchestra.sync.resolve import Match

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def _model(model_id: str, **kw: Any) -> ModelInfo:
    base: dict[str, Any] = {
        "context_window": 128_000,
        "input_price": 1e-6,
        "output_price": 2e-6,
        "quality": 1200,
    }
    return ModelInfo(id=model_id, **{**base, **kw})


def _match(model_id: str, source: str, fields: dict[str, Any], **kw: Any) -> Match:
    record = SourceRecord(
        source, kw.pop("ref", "ref"), fields, hosts=frozenset(kw.pop("hosts", ()))
    )
    return Match(model_id, record, kw.pop("score", 100.0), ("a", "b"))


def test_a_price_applies_to_the_host_it_describes_and_a_rating_to_every_host() -> None:
    # Given gpt-4o direct, through OpenRouter, and Llama on Groq
    catalog = Catalog(
        [
            _model("openai/gpt-4o"),
            _model("openrouter/openai/gpt-4o"),
            _model("openrouter/openai/gpt-4o-mini"),
            _model("groq/llama-3.3-70b-versatile"),
        ]
    )
    price = {"input_price": 2.5e-6}
    matches = [
        _match(
            "openai/gpt-4o",
            "openrouter",
            price,
            ref="openai/gpt-4o",
            hosts={"openai", "openrouter"},
        ),
        _match(
            "openrouter/openai/gpt-4o",
            "openrouter",
            price,
            ref="openai/gpt-4o",
            hosts={"openrouter"},
        ),
        _match(
            "openrouter/openai/gpt-4o-mini",
            "openrouter",
            price,
            ref="openai/gpt-4o",
            hosts={"openrouter"},
        ),
        _match(
            "groq/llama-3.3-70b-versatile",
            "openrouter",
            {"input_price": 1e-7, "hf_repo": "m/L"},
            ref="meta-llama/llama-3.3-70b-instruct",
            hosts={"openrouter"},
        ),
        _match("groq/llama-3.3-70b-versatile", "lmarena", {"quality": 1276.2}),
    ]
    plan = plan_updates(catalog, matches, NOW)
    # Then the maker's and OpenRouter's own offers take the price
    assert plan.updates["openai/gpt-4o"]["input_price"] == 2.5e-6
    assert plan.updates["openrouter/openai/gpt-4o"]["input_price"] == 2.5e-6
    # And another OpenRouter model, or Groq, does not: Groq keeps its rating and repo
    assert "openrouter/openai/gpt-4o-mini" not in plan.updates
    groq = plan.updates["groq/llama-3.3-70b-versatile"]
    assert "input_price" not in groq and groq["quality"] == 1276.2 and groq["hf_repo"] == "m/L"
    held = {h.ref: h.reason for h in plan.held}
    assert held["groq/llama-3.3-70b-versatile.input_price"] == (
        "openrouter's input_price is openrouter's, not groq's"
    )


def test_every_written_field_carries_its_source_and_time_and_changes_are_listed() -> None:
    catalog = Catalog([_model("openai/gpt-4o", quality=1283)])
    plan = plan_updates(
        catalog,
        [
            _match(
                "openai/gpt-4o", "lmarena", {"quality": 1290.5}, ref="gpt-4o-2024-08-06", score=97.0
            )
        ],
        NOW,
    )
    assert plan.updates["openai/gpt-4o"]["source:quality"] == {
        "source": "lmarena",
        "ref": "gpt-4o-2024-08-06",
        "at": "2026-11-25T12:00:00+00:00",
        "match": 97.0,
    }
    (change,) = plan.changes
    assert (change.field, change.old, change.new) == ("quality", 1283, 1290.5)
    # Read back, the model knows where its quality came from
    after = overlay(catalog, plan.records()).get("openai/gpt-4o")
    assert after.quality == 1290.5
    assert after.provenance["quality"] == FieldSource(
        source="lmarena", ref="gpt-4o-2024-08-06", at="2026-11-25T12:00:00+00:00", match=97.0
    )


def test_a_less_trusted_source_does_not_overwrite_a_fresh_value_but_replaces_a_stale_one() -> None:
    fresh = FieldSource(source="openrouter", at=(NOW - timedelta(days=2)).isoformat())
    stale = FieldSource(source="openrouter", at=(NOW - timedelta(days=45)).isoformat())
    catalog = Catalog(
        [
            _model("openai/a", provenance={"context_window": fresh}),
            _model("openai/b", provenance={"context_window": stale}),
            _model("openai/c"),  # the snapshot's value: no recorded source
        ]
    )
    window = {"context_window": 131072}
    plan = plan_updates(
        catalog,
        [_match(m, "huggingface", window) for m in ("openai/a", "openai/b", "openai/c")],
        NOW,
    )
    assert "openai/a" not in plan.updates
    assert plan.held[0].reason == "kept openrouter's value (more trusted for context_window)"
    assert plan.updates["openai/b"]["context_window"] == 131072
    assert plan.updates["openai/c"]["context_window"] == 131072


def test_a_source_only_sets_the_fields_the_policy_gives_it() -> None:
    catalog = Catalog([_model("openai/gpt-4o")])
    plan = plan_updates(
        catalog, [_match("openai/gpt-4o", "lmarena", {"input_price": 0.0, "quality": 1300})], NOW
    )
    assert set(plan.updates["openai/gpt-4o"]) == {"quality", "source:quality"}
    assert plan.held[0].reason == "lmarena is not a source of input_price"


def test_unchanged_values_are_refreshed_but_not_listed_as_changes() -> None:
    model = _model("openrouter/openai/gpt-4o", capabilities=frozenset({"tools", "streaming"}))
    caps = {"capabilities": ["streaming", "tools"]}
    match = _match(model.id, "openrouter", caps, ref="openai/gpt-4o", hosts={"openrouter"})
    plan = plan_updates(Catalog([model]), [match], NOW)
    assert "source:capabilities" in plan.updates[model.id]
    assert plan.changes == []


def test_a_listing_window_and_capabilities_describe_only_the_listed_model() -> None:
    # Given OpenRouter lists Claude Sonnet 4.5 with the 1M-token beta window it enables
    direct = _model("anthropic/claude-sonnet-4-5", context_window=200_000)
    routed = _model("openrouter/anthropic/claude-sonnet-4.5", context_window=200_000)
    fields = {"input_price": 3e-6, "context_window": 1_000_000, "capabilities": ["json"]}
    hosts = {"anthropic", "openrouter"}
    matches = [
        _match(m.id, "openrouter", fields, ref="anthropic/claude-sonnet-4.5", hosts=hosts)
        for m in (direct, routed)
    ]
    plan = plan_updates(Catalog([direct, routed]), matches, NOW)
    # Then Anthropic's own API takes the price only; OpenRouter's own model takes it all
    assert set(plan.updates[direct.id]) == {"input_price", "source:input_price"}
    assert plan.updates[routed.id]["context_window"] == 1_000_000
    held = {h.ref: h.reason for h in plan.held}
    assert held[f"{direct.id}.context_window"] == (
        "openrouter's context_window is for its own anthropic/claude-sonnet-4.5, not anthropic's"
    )


async def test_the_operators_config_wins_over_the_table() -> None:
    # Given a synced price in the table and the operator's own price in orchestra.yaml
    table = MemoryCatalogBackend()
    await table.upsert(
        "openai/gpt-4o", {"input_price": 9e-6, "source:input_price": {"source": "openrouter"}}
    )
    mine = _model("openai/gpt-4o", input_price=1e-6)
    source = CatalogSource(base=Catalog([_model("openai/gpt-4o")]), extra=[mine], table=table)
    # Then the gateway serves the operator's, while the sync sees the synced one
    assert (await source.current()).get("openai/gpt-4o").input_price == 1e-6
    synced = (await source.synced()).get("openai/gpt-4o")
    assert synced.input_price == 9e-6 and synced.provenance["input_price"].source == "openrouter"


def test_cache_prices_reach_the_host_they_describe_and_price_its_answers() -> None:
    # Given Claude direct and on a third-party host, and OpenRouter's Claude listing
    catalog = Catalog([_model("anthropic/claude-sonnet-4-5"), _model("other/claude-sonnet-4-5")])
    prices = {"cache_read_price": 3e-7, "cache_write_price": 3.75e-6}
    matches = [
        _match(
            "anthropic/claude-sonnet-4-5",
            "openrouter",
            prices,
            ref="anthropic/claude-sonnet-4.5",
            hosts={"anthropic", "openrouter"},
        ),
        _match("other/claude-sonnet-4-5", "openrouter", prices, hosts={"openrouter"}),
    ]
    plan = plan_updates(catalog, matches, NOW)
    # Then the maker's own offer takes them, a third party does not
    assert plan.updates["anthropic/claude-sonnet-4-5"]["cache_write_price"] == 3.75e-6
    assert "other/claude-sonnet-4-5" not in plan.updates
    after = overlay(catalog, plan.records()).get("anthropic/claude-sonnet-4-5")
    assert (after.cache_read_price, after.cache_write_price) == (3e-7, 3.75e-6)
