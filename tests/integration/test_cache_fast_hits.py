"""Repeats of an exact hit served in front of the router (``api/fast_hits.py``), through
the real app: what they skip, that they answer and count exactly as the normal hit, and
every request that must still go the normal way."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from orchestra.api.auth import ApiKeyAuth
from orchestra.governance.records import KeyPolicy

from support.cache import COST_NANOS, KEY_IDS, KEYS, Cached, Numbered, ask, cached_gateway, text_of
from support.gateway import started
from support.governance import FakePolicies, FakeSpend
from support.upstream import FakeUpstream

URL = "/v1/chat/completions"


@pytest.fixture
async def upstream() -> AsyncIterator[FakeUpstream]:
    async with started({"alpha": FakeUpstream(responder=Numbered())}) as fakes:
        yield fakes["alpha"]


class Entered:
    """Counts the generate use case's buffered calls (the normal path's)."""

    def __init__(self, gw: Cached) -> None:
        gateway = gw.services.gateway
        assert gateway is not None
        self.calls = 0
        original = gateway.generate

        async def counted(request: Any) -> Any:
            self.calls += 1
            return await original(request)

        gateway.generate = counted  # type: ignore[method-assign]


def _same_but_age(one: httpx.Response, two: httpx.Response) -> None:
    assert one.status_code == two.status_code == 200
    assert one.content == two.content
    strip = {"x-orchestra-cache-age"}
    assert [(k, v) for k, v in one.headers.items() if k not in strip] == [
        (k, v) for k, v in two.headers.items() if k not in strip
    ]


async def test_a_repeat_is_served_without_the_pipeline_and_equals_the_normal_hit(
    tmp_path: Path, upstream: FakeUpstream
) -> None:
    async with cached_gateway(tmp_path, upstream.base_url, cache_ttl_s=60) as gw:
        entered = Entered(gw)
        miss = await gw.client.post(URL, json=ask())
        gw.clock.now += 3
        hit = await gw.client.post(URL, json=ask())
        gw.clock.now += 4
        repeats = [await gw.client.post(URL, json=ask()) for _ in range(3)]
    # Then the miss and the first hit went through the use case, the repeats did not
    assert miss.headers["x-orchestra-cache"] == "miss" and hit.headers["x-orchestra-cache"] == "hit"
    assert entered.calls == 2 and len(upstream.requests) == 1
    # And each repeat is the normal hit's response, its age as of now
    for repeat in repeats:
        _same_but_age(hit, repeat)
        assert repeat.headers["x-orchestra-cache-age"] == "7"
    assert hit.headers["x-orchestra-cache-age"] == "3"


async def test_repeats_are_counted_and_spent_as_normal_hits(
    tmp_path: Path, upstream: FakeUpstream
) -> None:
    # Given a metered key (a budget: its calls and its hits write spend rows)
    spend = FakeSpend()
    metered = KeyPolicy(key_id=KEY_IDS[0], budget_day_usd=Decimal("10"))
    stores = {"spend": spend, "policies": FakePolicies(keys={KEY_IDS[0]: metered})}
    async with cached_gateway(
        tmp_path, upstream.base_url, cache_ttl_s=60, stores_options=stores
    ) as gw:
        entered = Entered(gw)
        for _ in range(4):
            assert (await gw.client.post(URL, json=ask())).status_code == 200
    assert entered.calls == 2
    hit = ("hit", "exact", COST_NANOS / 1e9)
    assert gw.observer.seen == [("miss", None, 0.0), hit, hit, hit]
    hits = [row for row in spend.rows if row.cache_hits]
    assert len(hits) == 3
    for row in hits:
        assert (row.key_id, row.model, row.cost_nanos, row.requests) == (
            KEY_IDS[0],
            "alpha/m1",
            0,
            1,
        )
        assert row.saved_nanos == COST_NANOS


async def test_two_keys_with_the_same_body_never_share_a_repeat(
    tmp_path: Path, upstream: FakeUpstream
) -> None:
    async with cached_gateway(tmp_path, upstream.base_url, cache_ttl_s=60) as gw:
        entered = Entered(gw)
        one = [await gw.clients[0].post(URL, json=ask()) for _ in range(3)]
        two = [await gw.clients[1].post(URL, json=ask()) for _ in range(3)]
    assert [text_of(r) for r in one] == ["answer 1 is here"] * 3
    assert [text_of(r) for r in two] == ["answer 2 is here"] * 3
    assert [r.headers["x-orchestra-cache"] for r in two] == ["miss", "hit", "hit"]
    assert entered.calls == 4  # each key: its miss and its first hit


async def test_a_revoked_key_gets_its_401_on_the_repeat(
    tmp_path: Path, upstream: FakeUpstream
) -> None:
    keys = {"client": KEYS[0]}

    async def load() -> dict[str, str]:
        return dict(keys)

    async with cached_gateway(tmp_path, upstream.base_url, cache_ttl_s=60) as gw:
        gw.services.auth = ApiKeyAuth(loader=load, refresh_s=0)
        entered = Entered(gw)
        answers = [await gw.client.post(URL, json=ask()) for _ in range(3)]
        keys.clear()  # the key is revoked
        refused = await gw.client.post(URL, json=ask())
    assert [r.status_code for r in answers] == [200, 200, 200]
    assert entered.calls == 2  # the third: a repeat
    assert refused.status_code == 401
    assert refused.json()["error"]["message"] == "Incorrect API key provided"


async def test_a_changed_policy_goes_the_normal_way(tmp_path: Path, upstream: FakeUpstream) -> None:
    policies = FakePolicies(keys={KEY_IDS[0]: KeyPolicy(key_id=KEY_IDS[0], cache={"ttl_s": 60})})
    async with cached_gateway(
        tmp_path, upstream.base_url, stores_options={"policies": policies}
    ) as gw:
        entered = Entered(gw)
        before = [await gw.client.post(URL, json=ask()) for _ in range(3)]
        # When the key's cache is turned off (the admin API drops the cached policy)
        policies.keys[KEY_IDS[0]] = KeyPolicy(key_id=KEY_IDS[0])
        assert gw.services.governor is not None
        gw.services.governor.cache.forget()
        after = await gw.client.post(URL, json=ask())
    assert [r.headers["x-orchestra-cache"] for r in before] == ["miss", "hit", "hit"]
    assert "x-orchestra-cache" not in after.headers and text_of(after) == "answer 2 is here"
    assert entered.calls == 3


async def test_an_expired_entry_is_a_miss(tmp_path: Path, upstream: FakeUpstream) -> None:
    async with cached_gateway(tmp_path, upstream.base_url, cache_ttl_s=60) as gw:
        for _ in range(3):
            await gw.client.post(URL, json=ask())
        gw.clock.now += 61
        late = await gw.client.post(URL, json=ask())
    assert late.headers["x-orchestra-cache"] == "miss" and text_of(late) == "answer 2 is here"


async def test_a_refreshed_entry_serves_the_new_answer(
    tmp_path: Path, upstream: FakeUpstream
) -> None:
    async with cached_gateway(tmp_path, upstream.base_url, cache_ttl_s=60) as gw:
        entered = Entered(gw)
        old = [await gw.client.post(URL, json=ask()) for _ in range(3)]
        fresh = await gw.client.post(URL, json=ask(), headers={"cache-control": "no-cache"})
        new = [await gw.client.post(URL, json=ask()) for _ in range(3)]
    assert [text_of(r) for r in old] == ["answer 1 is here"] * 3
    assert fresh.headers["x-orchestra-cache"] == "bypass"
    assert [text_of(r) for r in new] == ["answer 2 is here"] * 3
    assert [r.headers["x-orchestra-cache"] for r in new] == ["hit"] * 3
    assert entered.calls == 2 + 1 + 1  # the refreshed entry's first hit: the normal way


@pytest.mark.parametrize(
    "headers",
    [{"cache-control": "max-age=600"}, {"x-orchestra-cache-ttl": "60"}, {"x-orchestra-x": "1"}],
)
async def test_cache_control_and_orchestra_headers_always_go_the_normal_way(
    tmp_path: Path, upstream: FakeUpstream, headers: dict[str, str]
) -> None:
    async with cached_gateway(tmp_path, upstream.base_url, cache_ttl_s=60) as gw:
        await gw.client.post(URL, json=ask())
        entered = Entered(gw)
        answers = [await gw.client.post(URL, json=ask(), headers=headers) for _ in range(3)]
    assert [r.headers["x-orchestra-cache"] for r in answers] == ["hit"] * 3
    assert entered.calls == 3


async def test_streams_go_the_normal_way(tmp_path: Path, upstream: FakeUpstream) -> None:
    async with cached_gateway(tmp_path, upstream.base_url, cache_ttl_s=60) as gw:
        answers = [await gw.client.post(URL, json=ask(stream=True)) for _ in range(3)]
    for answer in answers[1:]:
        assert answer.headers["x-orchestra-cache"] == "hit"
        assert answer.headers["content-type"].startswith("text/event-stream")
        assert answer.text.endswith("data: [DONE]\n\n")


async def test_a_body_over_the_bound_goes_the_normal_way(
    tmp_path: Path, upstream: FakeUpstream
) -> None:
    body = ask("long " * 14_000)  # 70 KB
    async with cached_gateway(tmp_path, upstream.base_url, cache_ttl_s=60) as gw:
        entered = Entered(gw)
        answers = [await gw.client.post(URL, json=body) for _ in range(3)]
    assert [r.headers["x-orchestra-cache"] for r in answers] == ["miss", "hit", "hit"]
    assert entered.calls == 3


async def test_a_chunked_body_without_length_goes_the_normal_way_intact(
    tmp_path: Path, upstream: FakeUpstream
) -> None:
    data = json.dumps(ask()).encode()

    async def pieces() -> AsyncIterator[bytes]:
        for start in range(0, len(data), 10):
            yield data[start : start + 10]

    async with cached_gateway(tmp_path, upstream.base_url, cache_ttl_s=60) as gw:
        entered = Entered(gw)
        answers = [await gw.client.post(URL, content=pieces()) for _ in range(3)]
    assert [r.headers["x-orchestra-cache"] for r in answers] == ["miss", "hit", "hit"]
    assert entered.calls == 3


async def _called(
    app: Any, body: bytes, parts: int, path: str = URL, routes: list[Any] | None = None
) -> tuple[int, bytes]:
    """``app`` called directly, ``body`` in ``parts`` receive messages (with its length)."""
    size = -(-len(body) // parts)
    messages = [
        {"type": "http.request", "body": body[i : i + size], "more_body": i + size < len(body)}
        for i in range(0, len(body), size)
    ]
    headers = [
        (b"authorization", f"Bearer {KEYS[0]}".encode()),
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
    ]
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 5000),
        "server": ("127.0.0.1", 8080),
    }
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    if routes is not None:
        routes.append(scope.get("route"))
    return sent[0]["status"], b"".join(m.get("body", b"") for m in sent[1:])


@pytest.mark.parametrize("parts", [2, 5, 20])
async def test_a_body_in_several_messages_is_replayed_intact(
    tmp_path: Path, upstream: FakeUpstream, parts: int
) -> None:
    body = json.dumps(ask()).encode()
    async with cached_gateway(tmp_path, upstream.base_url, cache_ttl_s=60) as gw:
        entered = Entered(gw)
        answers = [await _called(gw.app, body, parts) for _ in range(4)]
    assert [status for status, _ in answers] == [200] * 4
    assert {json.loads(content)["choices"][0]["message"]["content"] for _, content in answers} == {
        "answer 1 is here"
    }
    # a few messages: the repeats are fast; more than the fast path reads: the normal way
    assert entered.calls == (2 if parts <= 5 else 4)


async def test_another_path_is_untouched(tmp_path: Path, upstream: FakeUpstream) -> None:
    body = json.dumps({**ask(), "max_tokens": 50}).encode()
    async with cached_gateway(tmp_path, upstream.base_url, cache_ttl_s=60) as gw:
        entered = Entered(gw)
        answers = [await _called(gw.app, body, 3, "/v1/messages") for _ in range(3)]
    assert [status for status, _ in answers] == [200] * 3
    assert entered.calls == 3


async def test_a_key_with_guardrails_never_gets_a_fast_repeat(
    tmp_path: Path, upstream: FakeUpstream
) -> None:
    async with cached_gateway(
        tmp_path, upstream.base_url, cache_ttl_s=60, redact_output=True
    ) as gw:
        entered = Entered(gw)
        answers = [await gw.client.post(URL, json=ask()) for _ in range(4)]
    assert [r.headers["x-orchestra-cache"] for r in answers] == ["miss", "hit", "hit", "hit"]
    assert entered.calls == 4


async def test_a_repeat_names_the_route_the_normal_path_matched(
    tmp_path: Path, upstream: FakeUpstream
) -> None:
    # the request metrics label requests with the matched route (telemetry/middleware.py)
    body = json.dumps(ask()).encode()
    routes: list[Any] = []
    async with cached_gateway(tmp_path, upstream.base_url, cache_ttl_s=60) as gw:
        entered = Entered(gw)
        for _ in range(3):
            await _called(gw.app, body, 1, routes=routes)
    assert entered.calls == 2
    assert getattr(routes[0], "path", None) == URL
    assert routes[2] is routes[1]
