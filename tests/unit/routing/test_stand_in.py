"""Locally, with only the simulator, a catalog model no provider serves gets a stand-in."""

from __future__ import annotations

import pytest

from orchestra.catalog.models import load_snapshot
from orchestra.errors import NoCandidates, UnknownModel
from orchestra.routing.router import Router
from orchestra.schemas.chat import ChatRequest


def _request(model: str) -> ChatRequest:
    return ChatRequest.model_validate(
        {"model": model, "messages": [{"role": "user", "content": "hi"}]}
    )


def test_a_known_model_without_its_provider_is_answered_by_the_route_and_says_so() -> None:
    # Given only the simulator configured, with stand-ins on (as composition does then)
    router = Router({"simulator"}, stand_in=True)
    # When Claude Code's model is asked for
    plan = router.plan(_request("claude-sonnet-4-5-20250929"), load_snapshot())
    # Then a simulated model answers, and the route explains why
    assert plan.candidates and all(c.model.provider == "simulator" for c in plan.candidates)
    assert {"model": "claude-sonnet-4-5-20250929", "reason": "not_served_here:stand_in"} in (
        plan.explain(plan.candidates[0].model.id)["rejected"]
    )


def test_without_stand_ins_the_same_request_is_refused() -> None:
    with pytest.raises(NoCandidates):
        Router({"simulator"}).plan(_request("claude-sonnet-4-5"), load_snapshot())


def test_a_name_the_catalog_does_not_know_is_still_a_404() -> None:
    with pytest.raises(UnknownModel):
        Router({"simulator"}, stand_in=True).plan(_request("no-such-model"), load_snapshot())
