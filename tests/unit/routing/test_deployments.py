"""Routing with deployments: groups (automatic and from orchestra.yaml), clones, pinning, and
``max_candidates`` counting models rather than deployments."""

from __future__ import annotations

import pytest

from orchestra.catalog.deployments import MAX_PER_GROUP, DeploymentGroupEntry, Deployments
from orchestra.catalog.models import Catalog, ModelInfo
from orchestra.catalog.source import CatalogSource
from orchestra.routing.groups import first_models
from orchestra.routing.router import Candidate, Router
from orchestra.schemas.chat import ChatRequest

PROVIDERS = {"alpha", "beta", "gamma", "anthropic", "bedrock", "openai", "openai-2", "azure"}


def _model(model_id: str, quality: float = 1200, **kw) -> ModelInfo:
    fields = {"context_window": 128_000, "input_price": 1e-6, "output_price": 2e-6}
    caps = kw.pop("capabilities", {"streaming", "tools"})
    return ModelInfo(id=model_id, quality=quality, capabilities=frozenset(caps), **fields | kw)


def _catalog() -> Catalog:
    return Catalog(
        [
            _model("alpha/m1", 1400),
            _model("beta/m1", 1390, capabilities={"streaming"}),  # no tools
            _model("gamma/m1", 1380),
            _model("alpha/m2", 1300),
            _model("beta/m3", 1250),
            _model("alpha/m4", 1200),
            _model("anthropic/claude-sonnet-4-5-20250929", 1420),
            _model("bedrock/us.anthropic.claude-sonnet-4-5-20250929-v1:0", 1410),
            _model("openai/gpt-4o", 1350, aliases=("gpt-4o-2024-08-06",)),
        ]
    )


def _request(model: str = "auto", **extra) -> ChatRequest:
    return ChatRequest.model_validate(
        {"model": model, "messages": [{"role": "user", "content": "Hi"}], **extra}
    )


def _ids(plan) -> list[str]:
    return [c.model.id for c in plan.candidates]


def _yaml(**groups) -> Deployments:
    return Deployments({k: DeploymentGroupEntry.model_validate(v) for k, v in groups.items()})


def test_automatic_groups_by_canonical_name():
    # Given Claude through Anthropic and Bedrock, and m1 through three providers
    catalog = _catalog()
    table = Deployments().table(list(catalog), catalog)
    # Then each is one group; a model alone has none
    assert table.group("anthropic/claude-sonnet-4-5-20250929") == "claude-sonnet-4-5"
    assert table.group("bedrock/us.anthropic.claude-sonnet-4-5-20250929-v1:0") == (
        "claude-sonnet-4-5"
    )
    assert [m.id for m in table.members("m1")] == ["alpha/m1", "beta/m1", "gamma/m1"]
    assert table.group("alpha/m2") == ""
    assert table.options("alpha/m2").weight == 1.0


def test_a_shortlisted_model_brings_its_deployments_next_to_it():
    # When routing for quality with room for two models
    plan = Router(PROVIDERS, max_candidates=2).plan(_request("auto:quality"), _catalog(), extra=0)
    ids = _ids(plan)
    # Then two models were shortlisted, each with its deployments adjacent and grouped
    assert ids == [
        "anthropic/claude-sonnet-4-5-20250929",
        "bedrock/us.anthropic.claude-sonnet-4-5-20250929-v1:0",
        "alpha/m1",
        "beta/m1",
        "gamma/m1",
    ]
    assert [c.group for c in plan.candidates] == ["claude-sonnet-4-5"] * 2 + ["m1"] * 3


def test_deployments_that_cannot_serve_the_request_are_rejected_with_a_reason():
    tools = [{"type": "function", "function": {"name": "f", "parameters": {}}}]
    plan = Router(PROVIDERS, max_candidates=2).plan(
        _request("auto:quality", tools=tools), _catalog(), extra=0
    )
    assert "beta/m1" not in _ids(plan)
    assert ("beta/m1", "no_tool_support") in plan.rejected
    assert sum(1 for m, _ in plan.rejected if m == "beta/m1") == 1  # reported once


def test_max_candidates_counts_models_not_deployments():
    candidates = [
        Candidate(_model("a/x"), 1, {}, "x"),
        Candidate(_model("b/x"), 1, {}, "x"),
        Candidate(_model("c/y"), 1, {}),
        Candidate(_model("a/z"), 1, {}, "z"),
        Candidate(_model("b/z"), 1, {}, "z"),
        Candidate(_model("d/w"), 1, {}),
    ]
    assert [c.model.id for c in first_models(candidates, 3)] == ["a/x", "b/x", "c/y", "a/z", "b/z"]
    assert [c.model.id for c in first_models(candidates, 1)] == ["a/x", "b/x"]
    assert first_models(candidates, 9) == candidates


def test_an_exact_id_pins_that_deployment_then_its_group():
    plan = Router(PROVIDERS).plan(_request("gamma/m1"), _catalog())
    assert plan.pinned
    assert _ids(plan) == ["gamma/m1", "alpha/m1", "beta/m1"]
    assert {c.group for c in plan.candidates} == {"m1"}


def test_a_bare_name_means_the_whole_group_unpinned():
    for name in ("m1", "claude-sonnet-4-5-20250929", "claude-sonnet-4.5"):
        plan = Router(PROVIDERS).plan(_request(name), _catalog())
        assert not plan.pinned, name
        assert len(plan.candidates) >= 2 and len({c.group for c in plan.candidates}) == 1, name


def test_fallbacks_bring_their_groups_too():
    plan = Router(PROVIDERS).plan(_request("alpha/m2", fallbacks=["m1"]), _catalog())
    assert _ids(plan) == ["alpha/m2", "alpha/m1", "beta/m1", "gamma/m1"]
    assert plan.pinned  # alpha/m2 named exactly


def test_yaml_groups_make_clones_with_their_own_ids_prices_and_options():
    # Given two extra keys and a differently named Azure deployment of gpt-4o
    deployments = _yaml(
        **{
            "gpt-4o": {
                "strategy": "weighted",
                "targets": [
                    {"provider": "openai", "weight": 3},
                    {"provider": "openai-2", "weight": 1, "input_price": 0.0},
                    {
                        "provider": "azure",
                        "upstream_model": "gpt4o-prod",
                        "continue_streams": False,
                        "first_token_s": 2.5,
                    },
                ],
            }
        }
    )
    catalog = deployments.apply(_catalog())
    base = catalog.get("openai/gpt-4o")
    clone = catalog.get("openai-2/gpt-4o")
    azure = catalog.get("azure/gpt4o-prod")
    # Then the clones are the base model under their own ids
    assert clone.quality == base.quality and clone.context_window == base.context_window
    assert clone.input_price == 0.0 and clone.output_price == base.output_price
    assert azure.upstream == "gpt4o-prod" and azure.capabilities == base.capabilities
    assert catalog.get("gpt-4o").id == "openai/gpt-4o"  # the base keeps its names
    # And the table knows the group, its strategy and each deployment's options
    router = Router(PROVIDERS, deployments=deployments)
    plan = router.plan(_request("gpt-4o"), catalog)
    assert sorted(_ids(plan)) == ["azure/gpt4o-prod", "openai-2/gpt-4o", "openai/gpt-4o"]
    assert not plan.pinned and {c.group for c in plan.candidates} == {"gpt-4o"}
    table = plan.table
    assert table is not None and table.strategy("gpt-4o") == "weighted"
    assert table.options("openai/gpt-4o").weight == 3.0
    assert table.options("azure/gpt4o-prod").continue_streams is False
    assert table.options("azure/gpt4o-prod").first_token_s == 2.5
    assert table.options("openai-2/gpt-4o").hedge is True
    # An alias of the base resolves to the group as well
    assert {c.group for c in router.plan(_request("gpt-4o-2024-08-06"), catalog).candidates} == {
        "gpt-4o"
    }


def test_an_explicit_group_takes_its_members_out_of_automatic_groups():
    deployments = _yaml(fast_m1={"targets": [{"provider": "alpha"}, {"provider": "gamma"}]})
    catalog = Catalog([*_catalog(), _model("alpha/fast_m1"), _model("gamma/fast_m1")])
    table = deployments.table(list(catalog), catalog)
    assert table.group("gamma/fast_m1") == "fast_m1"
    deployments = _yaml(m1={"targets": [{"provider": "alpha"}, {"provider": "gamma"}]})
    table = deployments.table(list(catalog), catalog)
    assert [m.id for m in table.members("m1")] == ["alpha/m1", "gamma/m1"]
    assert table.group("beta/m1") == ""  # no longer grouped automatically


def test_groups_are_capped():
    catalog = Catalog([_model(f"p{i}/big") for i in range(MAX_PER_GROUP + 3)])
    table = Deployments().table(list(catalog), catalog)
    assert len(table.members("big")) == MAX_PER_GROUP
    plan = Router({f"p{i}" for i in range(20)}).plan(_request("big"), catalog)
    assert len(plan.candidates) == MAX_PER_GROUP


def test_unconfigured_providers_stay_out_of_groups():
    plan = Router({"alpha", "gamma"}).plan(_request("m1"), _catalog())
    assert _ids(plan) == ["alpha/m1", "gamma/m1"]


async def test_clones_follow_the_base_models_synced_fields():
    # Given a models table that later raises the base model's quality
    class Table:
        records: list[dict] = []

        async def load_all(self) -> list[dict]:
            return self.records

    deployments = _yaml(**{"gpt-4o": {"targets": [{"provider": "openai-2"}]}})
    source = CatalogSource(base=_catalog(), table=Table(), cache_s=0, deployments=deployments)
    assert (await source.current()).get("openai-2/gpt-4o").quality == 1350
    Table.records = [{"id": "openai/gpt-4o", "quality": 1500}]
    # When the catalog is refreshed, the clone follows
    assert (await source.current()).get("openai-2/gpt-4o").quality == 1500


@pytest.mark.parametrize("name", ["alpha/m1", "m1"])
def test_plans_without_groups_are_unchanged(name):
    catalog = Catalog([_model("alpha/m1"), _model("beta/m2")])
    plan = Router(PROVIDERS).plan(_request(name), catalog)
    assert _ids(plan) == ["alpha/m1"] and plan.candidates[0].group == ""


def test_a_group_whose_model_left_the_catalog_is_skipped_not_fatal():
    deployments = _yaml(gone={"targets": [{"provider": "alpha"}]})
    catalog = deployments.apply(_catalog())
    plan = Router(PROVIDERS, deployments=deployments).plan(_request("m1"), catalog)
    assert plan.table is not None and plan.table.named("gone") == ""
