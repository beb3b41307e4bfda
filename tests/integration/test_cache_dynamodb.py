"""The answer cache's second level as deployed: two gateways sharing one DynamoDB cache
table (moto), the real ``DynamoDBAnswerBackend`` chosen from the settings as a deployed
function chooses it; and stale answers when every breaker is open."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from orchestra.storage.tables import create_tables

from support.cache import Numbered, ask, cached_gateway, text_of
from support.gateway import started
from support.upstream import FakeUpstream, Reply

TABLE = "orchestra-test-cache"
FAILED = Reply.json({"error": {"message": "upstream is down", "type": "server_error"}}, 500)


@pytest.fixture
async def upstream() -> AsyncIterator[FakeUpstream]:
    async with started({"alpha": FakeUpstream(responder=Numbered())}) as fakes:
        yield fakes["alpha"]


@pytest.fixture
def dynamodb(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """moto's DynamoDB with the cache table; yields the operations every client made."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    calls: list[str] = []

    def count(event_name: str, **_: Any) -> None:
        calls.append(event_name.rsplit(".", 1)[-1])

    with mock_aws():
        session = boto3.Session()
        create_tables(session.client("dynamodb"), {"cache": TABLE})
        boto3.DEFAULT_SESSION = None  # the backend's own client is made from the default session
        boto3.setup_default_session()
        assert boto3.DEFAULT_SESSION is not None
        boto3.DEFAULT_SESSION.events.register("before-call.dynamodb", count)
        yield calls
        boto3.DEFAULT_SESSION = None


async def test_two_gateways_share_answers_through_dynamodb_with_one_read(
    tmp_path: Path, upstream: FakeUpstream, dynamodb: list[str]
) -> None:
    # Given a gateway that answered once and stored the answer in the table
    async with cached_gateway(
        tmp_path, upstream.base_url, cache_ttl_s=600, cache_table=TABLE
    ) as one:
        first = await one.client.post("/v1/chat/completions", json=ask())
    assert first.headers["x-orchestra-cache"] == "miss"
    assert dynamodb.count("PutItem") == 1
    # When a second gateway (another instance, empty LRU) is asked the same, twice
    dynamodb.clear()
    async with cached_gateway(
        tmp_path, upstream.base_url, cache_ttl_s=600, cache_table=TABLE
    ) as two:
        shared = await two.client.post("/v1/chat/completions", json=ask())
        local = await two.client.post("/v1/chat/completions", json=ask())
    # Then the first ask is a hit read from the table in exactly one GetItem, the second
    # a hit from the instance's own LRU with no read, and the upstream was called once
    assert shared.headers["x-orchestra-cache"] == "hit" and text_of(shared) == text_of(first)
    assert local.headers["x-orchestra-cache"] == "hit"
    assert dynamodb == ["GetItem"]
    assert len(upstream.requests) == 1


async def test_every_breaker_open_serves_the_stale_answer(
    tmp_path: Path, upstream: FakeUpstream
) -> None:
    # Given a cached answer, then an upstream failing until its breaker opens
    async with cached_gateway(
        tmp_path, upstream.base_url, cache_ttl_s=60, breaker_failures=1
    ) as gw:
        await gw.client.post("/v1/chat/completions", json=ask())
        gw.clock.now += 600
        upstream.enqueue(*[FAILED] * 3)
        failed = await gw.client.post("/v1/chat/completions", json=ask("Something new?"))
        assert failed.status_code >= 500
        breaker = gw.services.gateway.breaker  # type: ignore[union-attr]
        assert not breaker.available("alpha/m1")
        calls = len(upstream.requests)
        # When the old question is asked again, past its TTL, allowing stale answers
        stale = await gw.client.post(
            "/v1/chat/completions", json=ask(), headers={"x-orchestra-cache-allow-stale": "true"}
        )
    # Then the stale answer is served at once (marked, with its age): no probe of the open
    # breaker, no wait on its cooldown
    assert stale.status_code == 200, stale.text
    assert stale.headers["x-orchestra-cache"] == "stale"
    assert stale.headers["x-orchestra-cache-age"] == "600"
    assert text_of(stale) == "answer 1 is here"
    assert len(upstream.requests) == calls
    # And the request was counted once, as stale (not also as a miss)
    assert gw.observer.seen[-1] == ("stale", "exact", pytest.approx(6.8e-5))
    assert [o for o, _, _ in gw.observer.seen].count("miss") == 2  # the first ask and the new one


async def test_every_breaker_open_without_a_stale_answer_still_tries_the_last_resort(
    tmp_path: Path, upstream: FakeUpstream
) -> None:
    async with cached_gateway(
        tmp_path, upstream.base_url, cache_ttl_s=60, breaker_failures=1, breaker_cooldown_s=0.5
    ) as gw:
        upstream.enqueue(FAILED)
        failed = await gw.client.post("/v1/chat/completions", json=ask("First?"))
        assert failed.status_code >= 500
        assert not gw.services.gateway.breaker.available("alpha/m1")  # type: ignore[union-attr]
        # When a question never cached is asked with stale answers allowed, breaker open
        answered = await gw.client.post(
            "/v1/chat/completions",
            json=ask("Second?"),
            headers={"x-orchestra-cache-allow-stale": "true"},
        )
    # Then the held candidate is still tried (its probe answers) and the answer is a miss
    assert answered.status_code == 200, answered.text
    assert answered.headers["x-orchestra-cache"] == "miss"


async def test_a_stale_allowed_request_that_is_refused_is_still_counted_once(
    tmp_path: Path, upstream: FakeUpstream
) -> None:
    # Given stale answers allowed on a request naming a model that does not exist
    async with cached_gateway(tmp_path, upstream.base_url, cache_ttl_s=60) as gw:
        refused = await gw.client.post(
            "/v1/chat/completions",
            json=ask(model="alpha/nope"),
            headers={"x-orchestra-cache-allow-stale": "true"},
        )
    # Then its error is the client's, and the cache counted its miss, once
    assert refused.status_code == 404, refused.text
    assert [outcome for outcome, _, _ in gw.observer.seen] == ["miss"]
