"""Limits before a run: counting, depth, fan-out, and the worst-case cost estimate."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from orchestra.catalog.models import Catalog, ModelInfo
from orchestra.chain.document import load_chain, parse_chain
from orchestra.chain.limits import JUDGE_MAX_TOKENS, GatewayLimits, check
from orchestra.config import Settings
from orchestra.errors import InvalidRequest
from orchestra.tokens import estimate_text_tokens

EXAMPLES = Path(__file__).resolve().parents[3] / "examples" / "chains"

CHEAP = ModelInfo(
    id="p/cheap", context_window=100_000, input_price=1e-6, output_price=2e-6, quality=1000
)
DEAR = ModelInfo(
    id="p/dear", context_window=1_000, input_price=1e-5, output_price=3e-5, quality=1300
)
EMBED = ModelInfo(
    id="p/embed",
    context_window=8_000,
    input_price=1e-3,
    output_price=0,
    quality=0,
    capabilities=frozenset({"embeddings"}),
)
CATALOG = Catalog([CHEAP, DEAR, EMBED])


def gen(sid: str, prompt: str = "hi", **extra: Any) -> dict[str, Any]:
    return {"id": sid, "kind": "generate", "prompt": prompt, **extra}


def chain_of(*steps: dict[str, Any], **top: Any) -> Any:
    return parse_chain(
        {"inputs": {"topic": {"type": "string", "default": ""}}, "steps": list(steps), **top}
    )


def test_one_explicit_call_is_priced_on_its_model() -> None:
    # Given one call on the cheap model with a 4-character prompt and 100 output tokens
    estimate = check(
        chain_of(gen("a", "abcd", model="p/cheap", max_tokens=100)), GatewayLimits(), CATALOG
    )
    # Then the worst case is the prompt estimate at the input price + 100 at the output price
    prompt = 3 + 4 + estimate_text_tokens("abcd")
    assert estimate.calls[0].prompt_tokens == prompt
    assert estimate.total_usd == pytest.approx(prompt * 1e-6 + 100 * 2e-6)
    assert (estimate.steps, estimate.depth, estimate.fanout) == (1, 1, 1)


def test_auto_is_priced_as_the_dearest_chat_model_that_fits() -> None:
    small = check(chain_of(gen("a", "x", model="auto:budget")), GatewayLimits(), CATALOG)
    assert small.calls[0].priced_as == "p/dear"  # never the embedding model
    # a prompt beyond the dear model's 1,000-token window can only go to the cheap one
    big = check(chain_of(gen("a", "word " * 2000)), GatewayLimits(), CATALOG)
    assert big.calls[0].priced_as == "p/cheap"
    # a deployment name the catalog does not know is priced as auto
    group = check(chain_of(gen("a", "x", model="my-group")), GatewayLimits(), CATALOG)
    assert group.calls[0].priced_as == "p/dear"


def test_no_model_holds_the_prompt() -> None:
    with pytest.raises(InvalidRequest) as caught:
        check(chain_of(gen("a", "word " * 2000)), GatewayLimits(), Catalog([DEAR, EMBED]))
    assert caught.value.param == "steps[0].model"


def test_references_carry_the_referenced_steps_worst_output() -> None:
    chain = chain_of(
        gen("a", "x", model="p/cheap", max_tokens=300),
        gen("b", "{{ steps.a.output }}", model="p/cheap", max_tokens=10),
    )
    estimate = check(chain, GatewayLimits(), CATALOG)
    assert estimate.calls[1].prompt_tokens == 3 + 4 + 300


def test_inputs_given_at_run_time_count() -> None:
    chain = chain_of(gen("a", "{{ inputs.topic }}", model="p/cheap"))
    without = check(chain, GatewayLimits(), CATALOG).calls[0].prompt_tokens
    with_topic = check(chain, GatewayLimits(), CATALOG, {"topic": "t" * 360}).calls[0].prompt_tokens
    assert with_topic - without == estimate_text_tokens("t" * 360)


def test_a_map_multiplies_by_max_items_and_counts_its_steps() -> None:
    chain = chain_of(
        gen("a", model="p/cheap", max_tokens=50),
        {
            "id": "m",
            "kind": "map",
            "over": "steps.a.output",
            "max_items": 7,
            "concurrency": 2,
            "step": gen("inner", "{{ item }}", model="p/cheap", max_tokens=10),
        },
    )
    estimate = check(chain, GatewayLimits(), CATALOG)
    inner = estimate.calls[1]
    assert (inner.runs, inner.prompt_tokens) == (7, 3 + 4 + 50)
    assert inner.total_usd == pytest.approx(7 * ((3 + 4 + 50) * 1e-6 + 10 * 2e-6))
    assert (estimate.steps, estimate.depth, estimate.fanout) == (1 + 1 + 7, 2, 7)


def test_a_condition_counts_both_lists_but_prices_the_dearer() -> None:
    chain = chain_of(
        gen("a", model="p/cheap"),
        {
            "id": "c",
            "kind": "condition",
            "value": "{{ steps.a.output }}",
            "when": {"contains": "x"},
            "then": [gen("t1", model="p/cheap", max_tokens=10)],
            "else": [
                gen("e1", model="p/dear", max_tokens=10),
                gen("e2", model="p/dear", max_tokens=10),
            ],
        },
    )
    estimate = check(chain, GatewayLimits(), CATALOG)
    assert estimate.steps == 1 + 1 + 1 + 2
    assert [c.step_id for c in estimate.calls] == ["a", "e1", "e2"]


def test_a_judge_combine_and_a_classifier_are_calls() -> None:
    chain = chain_of(
        {
            "id": "p",
            "kind": "parallel",
            "branches": [gen("x", max_tokens=20), gen("y", max_tokens=30)],
            "combine": {"strategy": "judge", "judge": "p/cheap"},
        },
        {
            "id": "c",
            "kind": "condition",
            "value": "{{ steps.p.output }}",
            "when": {"classify": {"prompt": "{{ value }}?", "labels": ["a", "b"], "equals": "a"}},
            "then": [gen("t")],
        },
    )
    estimate = check(chain, GatewayLimits(), CATALOG)
    kinds = {c.kind: c for c in estimate.calls}
    assert kinds["judge"].max_tokens == JUDGE_MAX_TOKENS and kinds["judge"].priced_as == "p/cheap"
    assert kinds["judge"].prompt_tokens >= 50
    assert kinds["classify"].path == "steps[1].when.classify" and kinds["classify"].max_tokens == 16


def test_a_conversation_carries_its_history_into_the_estimate() -> None:
    chain = chain_of(
        {"id": "q1", "kind": "conversation", "thread": "t", "prompt": "x", "max_tokens": 100},
        {"id": "q2", "kind": "conversation", "thread": "t", "prompt": "x", "max_tokens": 100},
    )
    first, second = check(chain, GatewayLimits(), CATALOG).calls
    assert second.prompt_tokens == first.prompt_tokens * 2 + 100


@pytest.mark.parametrize(
    ("steps", "gateway", "fragment"),
    [
        (
            [gen(f"s{i}") for i in range(4)],
            GatewayLimits(max_steps=3),
            "4 steps, above this gateway's max_steps of 3",
        ),
        (
            [{"id": "p", "kind": "parallel", "branches": [gen(f"b{i}") for i in range(5)]}],
            GatewayLimits(max_fanout=4),
            "5 wide, above this gateway's max_fanout of 4",
        ),
        (
            [
                {
                    "id": "m",
                    "kind": "map",
                    "over": "inputs.topic",
                    "step": {
                        "id": "n",
                        "kind": "map",
                        "over": "item",
                        "max_items": 1,
                        "step": gen("g"),
                    },
                }
            ],
            GatewayLimits(max_depth=2),
            "3 levels deep, above this gateway's max_depth of 2",
        ),
        (
            [gen("a", max_tokens=1000)],
            GatewayLimits(max_cost_usd=0.001),
            "above max_cost_usd $0.001 (the dearest step: steps[0] 'a'",
        ),
    ],
)
def test_each_gateway_limit_is_named(
    steps: list[dict[str, Any]], gateway: GatewayLimits, fragment: str
) -> None:
    with pytest.raises(InvalidRequest) as caught:
        check(chain_of(*steps), gateway, CATALOG)
    assert caught.value.param == "limits" and fragment in caught.value.message
    assert caught.value.status == 400 and caught.value.code == "chain_limit_exceeded"


def test_the_chains_own_limits_apply_when_lower() -> None:
    chain = chain_of(gen("a"), gen("b"), limits={"max_steps": 1})
    with pytest.raises(InvalidRequest) as caught:
        check(chain, GatewayLimits(), CATALOG)
    assert "the chain's max_steps of 1" in caught.value.message
    cheap = chain_of(gen("a", model="p/cheap", max_tokens=10), limits={"max_cost_usd": 1e-6})
    with pytest.raises(InvalidRequest):
        check(cheap, GatewayLimits(), CATALOG)


def test_a_chain_limit_above_the_gateways_is_refused() -> None:
    chain = chain_of(gen("a"), limits={"max_cost_usd": 5.0})
    with pytest.raises(InvalidRequest) as caught:
        check(chain, GatewayLimits(max_cost_usd=1.0), CATALOG)
    assert "limits.max_cost_usd is 5.0, above this gateway's 1.0" in caught.value.message


def test_gateway_limits_come_from_settings() -> None:
    settings = Settings(
        chain_max_steps=9, chain_max_depth=2, chain_max_fanout=5, chain_max_cost_usd=0.2
    )
    assert GatewayLimits.from_settings(settings) == GatewayLimits(9, 2, 5, 0.2)


def test_the_brief_example_with_the_bundled_catalog() -> None:
    from orchestra.catalog.models import load_snapshot

    chain = load_chain((EXAMPLES / "brief.yaml").read_text(), None)
    estimate = check(chain, GatewayLimits(), load_snapshot(), chain.with_inputs({"topic": "tides"}))
    assert (estimate.steps, estimate.depth, estimate.fanout) == (15, 2, 5)
    assert 0 < estimate.total_usd <= 0.50
    body = estimate.as_dict()
    assert body["total_usd"] == pytest.approx(sum(c["cost_usd"] for c in body["calls"]), abs=1e-5)


def test_dollar_amounts_keep_their_digits_however_small() -> None:
    # Given a cap of a millionth of a dollar, when it is named in a refusal, it reads as one
    from orchestra.chain.limits import usd

    assert usd(0.000001) == "$0.000001"
    assert usd(0.30084321) == "$0.3008"
    assert usd(0.001) == "$0.001"
    assert usd(12.5) == "$12.5"
