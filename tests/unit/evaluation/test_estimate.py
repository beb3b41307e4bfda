"""The cost estimate, hand-computed on fixed prices and a prompt of known length."""

from __future__ import annotations

import pytest

from orchestra.evaluation import estimate as estimating
from orchestra.evaluation.estimate import Price, Pricing, estimate, pricing_from
from orchestra.evaluation.records import Item
from orchestra.evaluation.strategies import parse

PRICING = Pricing(
    {
        "simulator/sim-large": Price(input=1e-6, output=2e-6),
        "simulator/sim-small": Price(input=1e-7, output=1e-7),
        "vendor/judge": Price(input=1e-6, output=1e-6),
    }
)
ITEMS = [Item(id=f"q{i}", kind="exact", question="What is 2+2?", answer="4") for i in range(2)]
#: answers of 100 tokens expected, 1,000 at worst
TOKENS = {"answer_tokens": 100, "max_tokens": 1000}


@pytest.fixture(autouse=True)
def _prompt_of_18_tokens(monkeypatch: pytest.MonkeyPatch) -> None:
    """36 characters = 11 tokens, + 4 for the message, + 3 for the chat: 18 prompt tokens."""
    monkeypatch.setattr(
        estimating, "prompt_messages", lambda item: [{"role": "user", "content": "x" * 36}]
    )


def _one(spec: str, **options: object) -> estimating.Estimate:
    return estimate([parse(spec)], ITEMS[:1], PRICING, **{**TOKENS, **options})


def test_single_is_prompt_and_answer_at_the_models_price() -> None:
    found = _one("sim-large")
    assert found.total_usd == pytest.approx(18e-6 + 100 * 2e-6)
    assert found.worst_usd == pytest.approx(18e-6 + 1000 * 2e-6)
    assert (found.calls, found.pairs, found.unpriced) == (1, 1, [])
    assert found.per_strategy == {"sim-large": pytest.approx(218e-6)}


def test_sample_is_k_singles() -> None:
    found = _one("sample(sim-large, k=3)")
    assert found.total_usd == pytest.approx(3 * 218e-6)
    assert found.worst_usd == pytest.approx(3 * 2018e-6)
    assert found.calls == 3


def test_a_judged_panel_adds_a_judge_shown_every_answer() -> None:
    found = _one("panel(sim-large, sim-small, fusion=judge, judge=vendor/judge)")
    members = 218e-6 + (18 + 100) * 1e-7
    judge = (18 + 120 + 2 * 100) * 1e-6 + 60 * 1e-6  # prompt + instructions + answers; verdict
    assert found.total_usd == pytest.approx(members + judge)
    worst_members = 2018e-6 + (18 + 1000) * 1e-7
    worst_judge = (18 + 120 + 2 * 1000) * 1e-6 + 400 * 1e-6
    assert found.worst_usd == pytest.approx(worst_members + worst_judge)
    assert found.calls == 3


def test_a_debate_runs_every_round_and_a_synthesis_by_the_dearest_model() -> None:
    found = _one("debate(sim-large, sim-small, rounds=2)")
    opening = (138 * 1e-6 + 100 * 2e-6) + (138 + 100) * 1e-7
    revision = (338 * 1e-6 + 100 * 2e-6) + (338 + 100) * 1e-7  # both answers shown
    synthesis = 338 * 1e-6 + 100 * 2e-6  # no judge named: priced as sim-large, the dearest
    assert found.total_usd == pytest.approx(opening + revision + synthesis)
    assert found.calls == 5


def test_pairs_already_done_are_free() -> None:
    strategy = parse("sim-large")
    found = estimate([strategy], ITEMS, PRICING, done={(strategy.spec, "q0")}, **TOKENS)
    assert found.pairs == 1 and found.total_usd == pytest.approx(218e-6)
    nothing = estimate(
        [strategy], ITEMS, PRICING, done={(strategy.spec, "q0"), (strategy.spec, "q1")}
    )
    assert (nothing.total_usd, nothing.worst_usd, nothing.calls) == (0.0, 0.0, 0)


def test_judge_graded_items_add_two_judge_calls_per_answer() -> None:
    item = Item(id="open", kind="judge", question="a" * 18, answer="b" * 18)
    found = estimate([parse("sim-large")], [item], PRICING, judge="vendor/judge", **TOKENS)
    # question + reference: 36 chars = 11 tokens, + instructions 120, + the answer 100; verdict 60
    grading = 2 * (11 + 120 + 100 + 60) * 1e-6
    assert found.grading_usd == pytest.approx(grading)
    assert found.total_usd == pytest.approx(218e-6 + grading)
    assert found.per_strategy == {"sim-large": pytest.approx(218e-6)}
    assert found.calls == 3


def test_an_unknown_price_is_listed_not_guessed() -> None:
    found = estimate([parse("openai/gpt-x"), parse("sim-large")], ITEMS[:1], PRICING, **TOKENS)
    assert found.unpriced == ["openai/gpt-x"]
    assert found.total_usd == pytest.approx(218e-6)
    assert "no price for openai/gpt-x: counted free" in found.describe()


def test_names_resolve_as_the_gateway_resolves_them() -> None:
    assert PRICING.price("sim-small") == Price(1e-7, 1e-7)
    assert PRICING.price("auto") == PRICING.price("auto:budget") == Price(1e-6, 2e-6)
    assert PRICING.price("small") is None and Pricing({}).price("auto") is None


def test_prices_come_from_the_models_list() -> None:
    models = [
        {
            "id": "simulator/sim-large",
            "pricing": {"input_per_token": 3e-6, "output_per_token": 1.5e-5},
        },
        {"id": "auto:quality", "object": "model", "owned_by": "orchestra"},
    ]
    assert pricing_from(models).prices == {"simulator/sim-large": Price(3e-6, 1.5e-5)}


def test_an_expected_answer_never_outgrows_max_tokens() -> None:
    found = _one("sim-large", answer_tokens=300, max_tokens=50)
    assert found.total_usd == found.worst_usd == pytest.approx(18e-6 + 50 * 2e-6)
