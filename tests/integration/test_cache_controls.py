"""The answer cache through the real app: turning it on (globally, per key, per request),
each control, namespaces, and what a hit is (no upstream call, cost 0, the same answer)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from orchestra.cache.records import CacheSettings
from orchestra.governance.records import KeyPolicy

from support.cache import COST_NANOS, KEY_IDS, Numbered, ask, cached_gateway, text_of
from support.gateway import started
from support.governance import FakePolicies
from support.upstream import FakeUpstream

TTL = {"x-orchestra-cache-ttl": "60"}


@pytest.fixture
async def upstream() -> AsyncIterator[FakeUpstream]:
    async with started({"alpha": FakeUpstream(responder=Numbered())}) as fakes:
        yield fakes["alpha"]


async def test_off_by_default_no_header_and_every_request_goes_upstream(
    tmp_path: Path, upstream: FakeUpstream
) -> None:
    async with cached_gateway(tmp_path, upstream.base_url) as gw:
        first = await gw.client.post("/v1/chat/completions", json=ask())
        second = await gw.client.post("/v1/chat/completions", json=ask())
    assert first.status_code == second.status_code == 200
    assert "x-orchestra-cache" not in first.headers and "x-orchestra-cache" not in second.headers
    assert len(upstream.requests) == 2
    assert gw.observer.seen == []


async def test_global_ttl_miss_then_a_hit_that_costs_nothing_and_calls_nobody(
    tmp_path: Path, upstream: FakeUpstream
) -> None:
    async with cached_gateway(tmp_path, upstream.base_url, cache_ttl_s=60) as gw:
        miss = await gw.client.post("/v1/chat/completions", json=ask())
        gw.clock.now += 7
        hit = await gw.client.post("/v1/chat/completions", json=ask())
    # Then the first was a miss answered upstream, the second a hit from cache
    assert miss.headers["x-orchestra-cache"] == "miss"
    assert float(miss.headers["x-orchestra-cost-usd"]) == pytest.approx(COST_NANOS / 1e9)
    assert hit.status_code == 200 and hit.headers["x-orchestra-cache"] == "hit"
    assert len(upstream.requests) == 1
    # And the hit is the same answer (content, usage, model), costs 0 and says what it saved
    assert hit.json() == miss.json()
    assert hit.headers["x-orchestra-cost-usd"] == "0.00000000"
    assert hit.headers["x-orchestra-cache-saved-usd"] == f"{COST_NANOS / 1e9:.8f}"
    assert hit.headers["x-orchestra-cache-age"] == "7"
    assert hit.headers["x-orchestra-cache-match"] == "exact"
    assert hit.headers["x-orchestra-model"] == "alpha/m1"
    assert gw.observer.seen == [("miss", None, 0.0), ("hit", "exact", COST_NANOS / 1e9)]


async def test_two_keys_never_share_an_answer(tmp_path: Path, upstream: FakeUpstream) -> None:
    async with cached_gateway(tmp_path, upstream.base_url, cache_ttl_s=60) as gw:
        one = await gw.clients[0].post("/v1/chat/completions", json=ask())
        two = await gw.clients[1].post("/v1/chat/completions", json=ask())
        again = await gw.clients[0].post("/v1/chat/completions", json=ask())
    assert [r.headers["x-orchestra-cache"] for r in (one, two, again)] == ["miss", "miss", "hit"]
    assert (text_of(one), text_of(two), text_of(again)) == (
        "answer 1 is here",
        "answer 2 is here",
        "answer 1 is here",
    )


def _policies(namespace: str) -> FakePolicies:
    """Keys one and two in team ml, key three in team ops; all cached in ``namespace``."""
    cache = CacheSettings(ttl_s=60, namespace=namespace)  # type: ignore[arg-type]
    teams = ("ml", "ml", "ops")
    keys = {
        k: KeyPolicy(key_id=k, team=t, cache=cache) for k, t in zip(KEY_IDS, teams, strict=False)
    }
    return FakePolicies(keys=keys)


async def test_team_namespace_shares_within_the_team_only(
    tmp_path: Path, upstream: FakeUpstream
) -> None:
    stores = {"policies": _policies("team")}
    async with cached_gateway(tmp_path, upstream.base_url, stores_options=stores) as gw:
        answers = [await c.post("/v1/chat/completions", json=ask()) for c in gw.clients]
    assert [r.headers["x-orchestra-cache"] for r in answers] == ["miss", "hit", "miss"]
    assert [text_of(r) for r in answers] == ["answer 1 is here"] * 2 + ["answer 2 is here"]


async def test_global_namespace_shares_with_everyone(
    tmp_path: Path, upstream: FakeUpstream
) -> None:
    stores = {"policies": _policies("global")}
    async with cached_gateway(tmp_path, upstream.base_url, stores_options=stores) as gw:
        answers = [await c.post("/v1/chat/completions", json=ask()) for c in gw.clients]
    assert [r.headers["x-orchestra-cache"] for r in answers] == ["miss", "hit", "hit"]
    assert len(upstream.requests) == 1


async def test_a_keys_policy_ttl_turns_it_on_for_that_key_only(
    tmp_path: Path, upstream: FakeUpstream
) -> None:
    policies = FakePolicies(keys={KEY_IDS[0]: KeyPolicy(key_id=KEY_IDS[0], cache={"ttl_s": 60})})
    stores = {"policies": policies}
    async with cached_gateway(tmp_path, upstream.base_url, stores_options=stores) as gw:
        cached = [await gw.clients[0].post("/v1/chat/completions", json=ask()) for _ in "ab"]
        other = await gw.clients[1].post("/v1/chat/completions", json=ask())
    assert [r.headers["x-orchestra-cache"] for r in cached] == ["miss", "hit"]
    assert "x-orchestra-cache" not in other.headers


@pytest.mark.parametrize("where", ["header", "body"])
async def test_the_request_opts_in_when_the_default_is_off(
    tmp_path: Path, upstream: FakeUpstream, where: str
) -> None:
    # Given no TTL anywhere but the request's own (and a sampled request: it asked)
    body = ask(temperature=0.9)
    headers = TTL if where == "header" else {}
    if where == "body":
        body["orchestra"] = {"cache": {"ttl": 60}}
    async with cached_gateway(tmp_path, upstream.base_url) as gw:
        first = await gw.client.post("/v1/chat/completions", json=body, headers=headers)
        second = await gw.client.post("/v1/chat/completions", json=body, headers=headers)
        plain = await gw.client.post("/v1/chat/completions", json=ask())
    assert [first.headers["x-orchestra-cache"], second.headers["x-orchestra-cache"]] == [
        "miss",
        "hit",
    ]
    assert "x-orchestra-cache" not in plain.headers


async def test_no_cache_bypasses_then_the_fresh_answer_is_the_one_served(
    tmp_path: Path, upstream: FakeUpstream
) -> None:
    async with cached_gateway(tmp_path, upstream.base_url, cache_ttl_s=60) as gw:
        await gw.client.post("/v1/chat/completions", json=ask())
        fresh = await gw.client.post(
            "/v1/chat/completions", json=ask(), headers={"cache-control": "no-cache"}
        )
        hit = await gw.client.post("/v1/chat/completions", json=ask())
    assert fresh.headers["x-orchestra-cache"] == "bypass" and text_of(fresh) == "answer 2 is here"
    assert hit.headers["x-orchestra-cache"] == "hit" and text_of(hit) == "answer 2 is here"


@pytest.mark.parametrize(
    ("headers", "body"),
    [({"cache-control": "no-store"}, {}), ({}, {"orchestra": {"cache": {"no_store": True}}})],
)
async def test_no_store_is_not_stored(
    tmp_path: Path, upstream: FakeUpstream, headers: dict[str, str], body: dict[str, object]
) -> None:
    async with cached_gateway(tmp_path, upstream.base_url, cache_ttl_s=60) as gw:
        unstored = await gw.client.post("/v1/chat/completions", json=ask(**body), headers=headers)
        after = await gw.client.post("/v1/chat/completions", json=ask())
    assert unstored.headers["x-orchestra-cache"] == "miss"
    assert after.headers["x-orchestra-cache"] == "miss" and len(upstream.requests) == 2


async def test_max_age_accepts_only_younger_entries(tmp_path: Path, upstream: FakeUpstream) -> None:
    async with cached_gateway(tmp_path, upstream.base_url, cache_ttl_s=600) as gw:
        await gw.client.post("/v1/chat/completions", json=ask())
        gw.clock.now += 30
        young = await gw.client.post(
            "/v1/chat/completions", json=ask(), headers={"cache-control": "max-age=60"}
        )
        old = await gw.client.post(
            "/v1/chat/completions", json=ask(), headers={"cache-control": "public, max-age=10"}
        )
    assert young.headers["x-orchestra-cache"] == "hit"
    assert old.headers["x-orchestra-cache"] == "miss" and text_of(old) == "answer 2 is here"


async def test_sampled_requests_bypass_unless_asked(tmp_path: Path, upstream: FakeUpstream) -> None:
    async with cached_gateway(tmp_path, upstream.base_url, cache_ttl_s=60) as gw:
        unset = [await gw.client.post("/v1/chat/completions", json=ask(temperature=None))]
        hot = [await gw.client.post("/v1/chat/completions", json=ask(temperature=0.7))]
        asked = [
            await gw.client.post("/v1/chat/completions", json=ask(temperature=0.7), headers=TTL)
            for _ in "ab"
        ]
    assert [r.headers["x-orchestra-cache"] for r in unset + hot] == ["bypass", "bypass"]
    assert [r.headers["x-orchestra-cache"] for r in asked] == ["miss", "hit"]


async def test_sampled_requests_are_cached_when_the_gateway_says_so(
    tmp_path: Path, upstream: FakeUpstream
) -> None:
    async with cached_gateway(
        tmp_path, upstream.base_url, cache_ttl_s=60, cache_sampled=True
    ) as gw:
        answers = [
            await gw.client.post("/v1/chat/completions", json=ask(temperature=1)) for _ in "ab"
        ]
    assert [r.headers["x-orchestra-cache"] for r in answers] == ["miss", "hit"]


@pytest.mark.parametrize("value", ["abc", "0", "-5", "2592001", "1.5"])
async def test_an_invalid_ttl_header_is_a_400_naming_it(
    tmp_path: Path, upstream: FakeUpstream, value: str
) -> None:
    async with cached_gateway(tmp_path, upstream.base_url) as gw:
        response = await gw.client.post(
            "/v1/chat/completions", json=ask(), headers={"x-orchestra-cache-ttl": value}
        )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["param"] == "x-orchestra-cache-ttl" and error["code"] == "invalid_value"
    assert upstream.requests == []


async def test_an_invalid_flag_header_is_a_400_naming_it(
    tmp_path: Path, upstream: FakeUpstream
) -> None:
    async with cached_gateway(tmp_path, upstream.base_url) as gw:
        response = await gw.client.post(
            "/v1/chat/completions", json=ask(), headers={"x-orchestra-cache-allow-stale": "yes"}
        )
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "x-orchestra-cache-allow-stale"


async def test_an_unknown_cache_field_is_a_400_naming_it(
    tmp_path: Path, upstream: FakeUpstream
) -> None:
    async with cached_gateway(tmp_path, upstream.base_url) as gw:
        body = ask(orchestra={"cache": {"tll": 60}})
        response = await gw.client.post("/v1/chat/completions", json=body)
    assert response.status_code == 400
    assert "orchestra.cache.tll" in response.text
    assert upstream.requests == []


async def test_an_answer_expires_with_its_ttl(tmp_path: Path, upstream: FakeUpstream) -> None:
    async with cached_gateway(tmp_path, upstream.base_url, cache_ttl_s=60) as gw:
        await gw.client.post("/v1/chat/completions", json=ask())
        gw.clock.now += 59
        inside = await gw.client.post("/v1/chat/completions", json=ask())
        gw.clock.now += 2
        expired = await gw.client.post("/v1/chat/completions", json=ask())
    assert inside.headers["x-orchestra-cache"] == "hit"
    assert expired.headers["x-orchestra-cache"] == "miss" and text_of(expired) == "answer 2 is here"
