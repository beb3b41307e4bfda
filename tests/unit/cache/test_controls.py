"""The cache plan: settings, the key's policy and the request's controls resolved."""

from __future__ import annotations

from typing import Any

import pytest

from orchestra.cache.controls import CacheControls, merged_options
from orchestra.cache.records import CacheOptions, CacheSettings
from orchestra.config import Settings
from orchestra.governance.admission import Admission
from orchestra.governance.records import KeyPolicy, TeamPolicy
from orchestra.schemas.chat import ChatRequest
from orchestra.schemas.options import OrchestraOptions


def _request(temperature: float | None = 0, **cache: Any) -> ChatRequest:
    body: dict[str, Any] = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    if temperature is not None:
        body["temperature"] = temperature
    if cache:
        body["orchestra"] = {"cache": cache}
    return ChatRequest.model_validate(body)


def _admission(team: str | None = None, **cache: Any) -> Admission:
    key = KeyPolicy(key_id="k1", team=team, cache=CacheSettings(**cache))
    return Admission("k1", key, TeamPolicy(team_id=team) if team else None)


def _header(**cache: Any) -> OrchestraOptions:
    return OrchestraOptions(cache=CacheOptions(**cache))


def test_off_without_a_ttl_from_anyone() -> None:
    assert CacheControls(Settings()).plan(_request(), _admission(), None) is None


def test_the_gateways_ttl_turns_it_on_in_the_keys_namespace() -> None:
    plan = CacheControls(Settings(cache_ttl_s=60)).plan(_request(), _admission(), None)
    assert plan is not None and (plan.lookup, plan.store, plan.ttl_s) == (True, True, 60)
    assert plan.namespace == "k:k1" and not plan.allow_stale and not plan.semantic


def test_a_keys_ttl_of_zero_turns_the_gateways_off_for_it() -> None:
    controls = CacheControls(Settings(cache_ttl_s=60))
    assert controls.plan(_request(), _admission(ttl_s=0), None) is None


@pytest.mark.parametrize("where", ["header", "body"])
def test_a_requests_ttl_opts_in_and_asks_for_a_sampled_answer(where: str) -> None:
    request = _request(0.8, ttl=30) if where == "body" else _request(0.8)
    header = _header(ttl=30) if where == "header" else None
    plan = CacheControls(Settings()).plan(request, _admission(), header)
    assert plan is not None and (plan.lookup, plan.store, plan.ttl_s) == (True, True, 30)


@pytest.mark.parametrize("temperature", [None, 0.2, 1.0])
def test_a_sampled_request_is_a_bypass_unless_sampled_is_on(temperature: float | None) -> None:
    plan = CacheControls(Settings(cache_ttl_s=60)).plan(_request(temperature), _admission(), None)
    assert plan is not None and not plan.lookup and not plan.store
    keyed = CacheControls(Settings(cache_ttl_s=60)).plan(
        _request(temperature), _admission(sampled=True), None
    )
    assert keyed is not None and keyed.lookup and keyed.store


def test_no_cache_no_store_and_max_age() -> None:
    controls = CacheControls(Settings(cache_ttl_s=60))
    no_cache = controls.plan(_request(), None, _header(no_cache=True))
    no_store = controls.plan(_request(), None, _header(no_store=True, max_age=5))
    assert no_cache is not None and (no_cache.lookup, no_cache.store) == (False, True)
    assert no_store is not None and (no_store.lookup, no_store.store) == (True, False)
    assert no_store.max_age == 5


def test_the_bodys_explicit_fields_win_over_the_headers() -> None:
    merged = merged_options(
        CacheOptions(allow_stale=False), CacheOptions(ttl=10, allow_stale=True, no_store=True)
    )
    assert merged == CacheOptions(ttl=10, allow_stale=False, no_store=True)


def test_allow_stale_request_over_key_over_gateway() -> None:
    controls = CacheControls(Settings(cache_ttl_s=60, cache_allow_stale=True))
    assert controls.plan(_request(), _admission(), None).allow_stale  # type: ignore[union-attr]
    keyed = controls.plan(_request(), _admission(allow_stale=False), None)
    assert keyed is not None and not keyed.allow_stale
    asked = controls.plan(_request(allow_stale=True), _admission(allow_stale=False), None)
    assert asked is not None and asked.allow_stale


def test_namespaces_team_falls_back_to_the_key_and_global_is_shared() -> None:
    controls = CacheControls(Settings(cache_ttl_s=60, cache_namespace="team"))
    assert controls.plan(_request(), _admission("ml"), None).namespace == "t:ml"  # type: ignore[union-attr]
    assert controls.plan(_request(), _admission(None), None).namespace == "k:k1"  # type: ignore[union-attr]
    shared = controls.plan(_request(), _admission("ml", namespace="global"), None)
    assert shared is not None and shared.namespace == "g"


def test_without_governance_the_principals_key_id_names_the_namespace() -> None:
    plan = CacheControls(Settings(cache_ttl_s=60)).plan(_request(), None, None)
    assert plan is not None and plan.namespace == "k:anonymous"


def test_semantic_within_what_the_key_allows() -> None:
    controls = CacheControls(
        Settings(cache_ttl_s=60, cache_semantic=True, cache_semantic_threshold=0.9)
    )
    on = controls.plan(_request(), _admission(), None)
    assert on is not None and on.semantic and on.threshold == 0.9
    off = controls.plan(_request(semantic=False), _admission(), None)
    assert off is not None and not off.semantic
    forbidden = controls.plan(_request(semantic=True), _admission(semantic=False), None)
    assert forbidden is not None and not forbidden.semantic
    keyed = CacheControls(Settings(cache_ttl_s=60)).plan(
        _request(), _admission(semantic=True, semantic_threshold=0.97), None
    )
    assert keyed is not None and keyed.semantic and keyed.threshold == 0.97
