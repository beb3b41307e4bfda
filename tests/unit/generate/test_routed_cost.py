"""``Routed.cost_usd``: each call at its own model's prices, cache and reasoning detail kept."""

from __future__ import annotations

import pytest

from orchestra.catalog.models import ModelInfo
from orchestra.catalog.pricing import cost_nanos
from orchestra.generate.continuation import add_usage
from orchestra.generate.results import Routed
from orchestra.routing.router import RoutePlan
from orchestra.schemas.chat import Usage

CLAUDE = ModelInfo(
    id="anthropic/claude-sonnet-4-5",
    context_window=200_000,
    input_price=3e-6,
    output_price=15e-6,
    quality=1300,
)
GPT = ModelInfo(
    id="openai/gpt-4o", context_window=128_000, input_price=2.5e-6, output_price=1e-5, quality=1300
)


def _routed(model: ModelInfo, **kw: object) -> Routed:
    return Routed(plan=RoutePlan("balanced", None, 10, []), model=model, attempts=[], **kw)  # type: ignore[arg-type]


def test_a_cached_answer_costs_what_its_usage_says() -> None:
    usage = Usage.of(3560, 10, cached=2048, cache_creation=1500)
    result = _routed(CLAUDE, usage=usage)
    assert result.cost_usd == pytest.approx(
        (12 * 3000 + 2048 * 300 + 1500 * 3750 + 10 * 15000) / 1e9, abs=1e-12
    )


def test_a_continued_answer_prices_the_answering_models_share_with_its_cache_detail() -> None:
    # Given a stream that broke on Claude (its cost carried) and was finished by gpt-4o,
    # whose own call read 1000 of its 1200 prompt tokens from OpenAI's cache
    broken = Usage.of(3000, 40, cached=2900)
    own = Usage.of(1200, 60, cached=1000, reasoning=20)
    carried_cost = cost_nanos(CLAUDE, broken) / 1e9
    result = _routed(
        GPT,
        usage=add_usage(broken, own),
        carried_usage=broken,
        carried_cost_usd=carried_cost,
    )
    # Then gpt-4o's share is its own call, cached tokens at half its input price
    own_nanos = 200 * 2500 + 1000 * 1250 + 60 * 10000
    assert result.cost_usd == pytest.approx(carried_cost + own_nanos / 1e9, abs=1e-12)
