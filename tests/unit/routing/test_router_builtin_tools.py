"""Routing a Responses request with built-in tools: only providers that run them serve it."""

from __future__ import annotations

import pytest

from orchestra.catalog.models import Catalog, ModelInfo
from orchestra.errors import NoCandidates
from orchestra.routing.router import Router
from orchestra.schemas.chat import ChatRequest, NativeBody

CAPS = frozenset({"tools", "streaming"})
CATALOG = Catalog(
    [
        ModelInfo(
            id="anthropic/claude",
            context_window=200_000,
            input_price=1e-6,
            output_price=1e-6,
            quality=1500,
            capabilities=CAPS,
        ),
        ModelInfo(
            id="openai/gpt",
            context_window=200_000,
            input_price=1e-6,
            output_price=1e-6,
            quality=1300,
            capabilities=CAPS,
        ),
    ]
)


def _request(model: str = "auto", builtin: tuple[tuple[int, str], ...] = ()) -> ChatRequest:
    request = ChatRequest.model_validate(
        {"model": model, "messages": [{"role": "user", "content": "news today?"}]}
    )
    tools = [{"type": "function", "name": "f"}, {"type": "web_search"}]
    return request.with_native(
        NativeBody(format="openai-responses", body={"tools": tools}, builtin_tools=builtin)
    )


def test_only_a_provider_running_built_in_tools_is_a_candidate():
    router = Router({"anthropic", "openai"}, builtin_tools={"openai"})
    plan = router.plan(_request(builtin=((1, "web_search"),)), CATALOG)
    assert [c.model.id for c in plan.candidates] == ["openai/gpt"]
    assert ("anthropic/claude", "builtin_tools_unsupported") in plan.rejected
    # without built-in tools, both serve (the better first)
    plan = router.plan(_request(), CATALOG)
    assert [c.model.id for c in plan.candidates] == ["anthropic/claude", "openai/gpt"]


@pytest.mark.parametrize("model", ["auto", "anthropic/claude"])
def test_when_nothing_runs_them_the_400_names_the_tool_and_who_runs_them(model):
    router = Router({"anthropic", "openai"})  # nothing runs built-in tools
    with pytest.raises(NoCandidates) as info:
        router.plan(_request(model, builtin=((1, "web_search"),)), CATALOG)
    assert info.value.status == 400 and info.value.param == "tools[1].type"
    assert "'web_search'" in info.value.message and "OpenAI provider" in info.value.message


def test_another_reason_for_no_candidates_still_names_the_model():
    router = Router({"anthropic", "openai"}, builtin_tools={"openai"})
    request = _request("openai/gpt", builtin=((1, "web_search"),))
    request.max_tokens = 10_000_000
    with pytest.raises(NoCandidates) as info:
        router.plan(request, CATALOG)
    assert info.value.param == "model"
