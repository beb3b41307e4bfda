"""Selector edges: defaults, too few picks, every breaker open, the exact messages."""

from __future__ import annotations

from typing import Any

import pytest

from orchestra.catalog.models import Catalog
from orchestra.errors import InvalidRequest, NoCandidates
from orchestra.panel.selection import Selector
from orchestra.resilience.breaker import BreakerPolicy, CircuitBreaker
from orchestra.routing.router import Router
from orchestra.schemas.multi import MultiGenerateRequest
from orchestra.storage.memory import MemoryBreakerBackend

from support.multi import MODELS, P

CATALOG = Catalog(MODELS)
OURS = [m.id for m in MODELS if m.provider == P]


def _selector() -> Selector:
    breaker = CircuitBreaker(MemoryBreakerBackend(), BreakerPolicy(failure_threshold=1))
    return Selector(Router({P}, max_candidates=4), breaker)


def _request(**body: Any) -> MultiGenerateRequest:
    messages = [{"role": "user", "content": "What is 6 times 7?"}]
    return MultiGenerateRequest.from_body({"messages": messages, **body})


async def _open(selector: Selector, ids: list[str]) -> None:
    for model_id in ids:
        await selector.breaker.record_failure(model_id)


async def test_three_diverse_models_are_picked_by_default_for_the_profile() -> None:
    # Given no count asked for
    request = _request(profile="quality")
    # When the panel is picked
    selection = await _selector().select(request.options, request.chat, CATALOG)
    # Then three models serve, with the profile they were ranked for and no note
    assert len(selection.models) == 3
    assert selection.profile == "quality"
    assert selection.note is None


async def test_fewer_callable_models_than_asked_are_noted() -> None:
    # Given every model but two with an open breaker
    selector = _selector()
    await _open(selector, OURS[2:])
    request = _request(count=3, profile="quality")
    # When three are asked for
    selection = await selector.select(request.options, request.chat, CATALOG)
    # Then the two are used and the shortfall is said
    assert sorted(m.id for m in selection.models) == sorted(OURS[:2])
    assert selection.note == "asked for 3 models; only 2 can serve this request now"
    assert selection.profile == "quality"


async def test_every_breaker_open_is_a_503_saying_so() -> None:
    selector = _selector()
    await _open(selector, OURS)
    request = _request(count=2)
    with pytest.raises(NoCandidates) as caught:
        await selector.select(request.options, request.chat, CATALOG)
    assert caught.value.status == 503
    assert caught.value.message == (
        "Every model that could serve this request is temporarily unavailable (circuit open)"
    )


async def test_named_models_none_of_which_can_serve_are_listed_with_why() -> None:
    request = _request(models=["other/gpt-elsewhere"])
    with pytest.raises(NoCandidates) as caught:
        await _selector().select(request.options, request.chat, CATALOG)
    assert caught.value.status == 400 and caught.value.param == "models"
    assert caught.value.message == (
        "None of the named models can serve this request "
        "(other/gpt-elsewhere: provider_not_configured)"
    )


async def test_a_single_model_name_is_refused_with_how_to_ask() -> None:
    request = _request(model=f"{P}/gpt-a")
    with pytest.raises(InvalidRequest) as caught:
        await _selector().select(request.options, request.chat, CATALOG)
    assert caught.value.param == "model"
    assert caught.value.message == (
        "multi-generate calls several models: name them in 'models' or ask for 'count' "
        "(with an optional 'profile'); 'model' may only be 'auto' or 'auto:<profile>'"
    )


def test_a_named_auxiliary_without_a_configured_provider_names_its_field() -> None:
    with pytest.raises(InvalidRequest) as caught:
        _selector().named_auxiliary(CATALOG, "other/gpt-elsewhere", "judge")
    assert caught.value.param == "judge"
    assert caught.value.message == (
        "'other/gpt-elsewhere' cannot be used: its provider is not configured"
    )
