"""Streams and the answer cache, through the real app: a streamed miss is stored once whole
and serves a buffered request (and the reverse); a streamed hit is replayed as SSE word
chunks with usage in every inbound format; a stream cut short or failing is not stored;
the official OpenAI and Anthropic SDKs parse a replayed stream."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import anthropic
import httpx
import openai
import pytest

from orchestra.api.app import create_app
from orchestra.compose import build_services
from orchestra.config import Settings
from orchestra.schemas.chat import ChatRequest

from support.cache import USAGE, Numbered, ask, cached_gateway, stream_pieces, text_of
from support.gateway import started
from support.server import serve_in_thread
from support.upstream import FakeUpstream, Reply

Q = "Where do I write?"
USER = [{"role": "user", "content": Q}]
#: each inbound format's buffered request and its streamed twin: (path, body)
FORMATS: dict[str, tuple[tuple[str, dict[str, Any]], tuple[str, dict[str, Any]]]] = {
    "messages": (
        ("/v1/messages", {"model": "alpha/m1", "max_tokens": 100, "messages": USER}),
        (
            "/v1/messages",
            {"model": "alpha/m1", "max_tokens": 100, "messages": USER, "stream": True},
        ),
    ),
    "responses": (
        ("/v1/responses", {"model": "alpha/m1", "input": Q}),
        ("/v1/responses", {"model": "alpha/m1", "input": Q, "stream": True}),
    ),
    "gemini": (
        ("/v1beta/models/alpha/m1:generateContent", {"contents": [{"parts": [{"text": Q}]}]}),
        (
            "/v1beta/models/alpha/m1:streamGenerateContent?alt=sse",
            {"contents": [{"parts": [{"text": Q}]}]},
        ),
    ),
}


@pytest.fixture
async def upstream() -> AsyncIterator[FakeUpstream]:
    async with started({"alpha": FakeUpstream(responder=Numbered())}) as fakes:
        yield fakes["alpha"]


def events(response: httpx.Response) -> list[Any]:
    """Every ``data:`` payload of an SSE body (``[DONE]`` as the string)."""
    found = []
    for line in response.text.splitlines():
        if line.startswith("data: "):
            data = line[6:]
            found.append(data if data == "[DONE]" else json.loads(data))
    return found


def streamed_text(kind: str, payloads: list[Any]) -> str:
    """The answer's text as each format's stream spells it."""
    if kind == "messages":
        deltas = [p["delta"] for p in payloads if p["type"] == "content_block_delta"]
        return "".join(d.get("text", "") for d in deltas)
    if kind == "responses":
        return "".join(p["delta"] for p in payloads if p["type"] == "response.output_text.delta")
    parts = [part for p in payloads for c in p["candidates"] for part in c["content"]["parts"]]
    return "".join(part.get("text", "") for part in parts)


def buffered_text(kind: str, body: dict[str, Any]) -> str:
    if kind == "messages":
        return "".join(block["text"] for block in body["content"] if block["type"] == "text")
    if kind == "responses":
        return "".join(
            c["text"]
            for item in body["output"]
            if item["type"] == "message"
            for c in item["content"]
        )
    return "".join(p.get("text", "") for p in body["candidates"][0]["content"]["parts"])


async def test_a_streamed_hit_is_replayed_as_word_chunks_with_usage_and_done(
    tmp_path: Path, upstream: FakeUpstream
) -> None:
    body = ask(stream=True, stream_options={"include_usage": True})
    async with cached_gateway(tmp_path, upstream.base_url, cache_ttl_s=60) as gw:
        miss = await gw.client.post("/v1/chat/completions", json=ask())
        hit = await gw.client.post("/v1/chat/completions", json=body)
    assert hit.headers["x-orchestra-cache"] == "hit" and len(upstream.requests) == 1
    assert hit.headers["content-type"].startswith("text/event-stream")
    chunks = events(hit)
    assert chunks[-1] == "[DONE]"
    pieces = [c["choices"][0]["delta"].get("content") for c in chunks[:-1] if c["choices"]]
    assert pieces[0] == "" and [p for p in pieces[1:] if p] == ["answer", " 1", " is", " here"]
    assert [c["choices"][0].get("finish_reason") for c in chunks[:-1] if c["choices"]][-1] == "stop"
    assert chunks[-2]["usage"] == miss.json()["usage"] and chunks[-2]["choices"] == []


async def test_a_streamed_miss_is_stored_and_a_buffered_request_hits(
    tmp_path: Path, upstream: FakeUpstream
) -> None:
    async with cached_gateway(tmp_path, upstream.base_url, cache_ttl_s=60) as gw:
        streamed = await gw.client.post("/v1/chat/completions", json=ask(stream=True))
        hit = await gw.client.post("/v1/chat/completions", json=ask())
    assert streamed.headers["x-orchestra-cache"] == "miss"
    assert hit.headers["x-orchestra-cache"] == "hit" and text_of(hit) == "answer 1 is here"
    assert hit.json()["usage"]["prompt_tokens"] == USAGE["prompt_tokens"]
    assert len(upstream.requests) == 1


@pytest.mark.parametrize("kind", sorted(FORMATS))
@pytest.mark.parametrize("first_streamed", [False, True])
async def test_every_format_replays_and_stores_its_own_answers(
    tmp_path: Path, upstream: FakeUpstream, kind: str, first_streamed: bool
) -> None:
    buffered, streamed = FORMATS[kind]
    first, then = (streamed, buffered) if first_streamed else (buffered, streamed)
    async with cached_gateway(tmp_path, upstream.base_url, cache_ttl_s=60) as gw:
        miss = await gw.client.post(
            first[0], json=first[1], headers={"x-orchestra-cache-ttl": "60"}
        )
        hit = await gw.client.post(then[0], json=then[1], headers={"x-orchestra-cache-ttl": "60"})
        chat = await gw.client.post(
            "/v1/chat/completions",
            json=ask(Q, temperature=None),
            headers={"x-orchestra-cache-ttl": "60"},
        )
    assert miss.status_code == hit.status_code == 200, (miss.text, hit.text)
    assert (miss.headers["x-orchestra-cache"], hit.headers["x-orchestra-cache"]) == ("miss", "hit")
    texts = [
        streamed_text(kind, events(r))
        if r is (miss if first_streamed else hit)
        else buffered_text(kind, r.json())
        for r in (miss, hit)
    ]
    assert texts == ["answer 1 is here"] * 2
    # And each inbound format keys its own answers: chat completions asked the upstream
    assert chat.headers["x-orchestra-cache"] == "miss" and len(upstream.requests) == 2


async def test_a_stream_that_fails_is_not_stored(tmp_path: Path, upstream: FakeUpstream) -> None:
    broken = Reply(
        chunks=[*stream_pieces("answer cut short", finish=False), b"data: {bad json\n\n"],
        headers={"content-type": "text/event-stream"},
    )
    upstream.enqueue(broken)
    async with cached_gateway(tmp_path, upstream.base_url, cache_ttl_s=60) as gw:
        failed = await gw.client.post("/v1/chat/completions", json=ask(stream=True))
        after = await gw.client.post("/v1/chat/completions", json=ask())
    assert '"error"' in failed.text and "[DONE]" not in failed.text
    assert after.headers["x-orchestra-cache"] == "miss" and len(upstream.requests) == 2


async def test_a_stream_its_client_left_is_not_stored(
    tmp_path: Path, upstream: FakeUpstream
) -> None:
    async with cached_gateway(tmp_path, upstream.base_url, cache_ttl_s=60) as gw:
        gateway = gw.services.gateway
        assert gateway is not None and gateway.cache is not None
        request = ChatRequest.model_validate(ask(stream=True))
        # When the client reads two chunks and goes (the SSE response closes the relay)
        handle = await gateway.open_stream(request)
        relay = gateway.relay(handle)
        assert handle.cache is not None and handle.cache.outcome == "miss"
        [await anext(relay) for _ in range(2)]
        await relay.aclose()  # type: ignore[attr-defined]
        assert len(gateway.cache.tiers.lru) == 0
        # And the same stream read to its end is stored
        whole = gateway.relay(await gateway.open_stream(request))
        _ = [chunk async for chunk in whole]
        assert len(gateway.cache.tiers.lru) == 1


async def test_a_streamed_request_gets_the_stale_answer_when_everything_fails(
    tmp_path: Path, upstream: FakeUpstream
) -> None:
    failed = Reply.json({"error": {"message": "down", "type": "server_error"}}, 500)
    headers = {"x-orchestra-cache-allow-stale": "true"}
    async with cached_gateway(tmp_path, upstream.base_url, cache_ttl_s=60) as gw:
        await gw.client.post("/v1/chat/completions", json=ask())
        gw.clock.now += 120
        upstream.enqueue(*[failed] * 10)
        stale = await gw.client.post("/v1/chat/completions", json=ask(stream=True), headers=headers)
    assert stale.status_code == 200 and stale.headers["x-orchestra-cache"] == "stale"
    assert stale.headers["x-orchestra-cache-age"] == "120"
    pieces = [c["choices"][0]["delta"].get("content") or "" for c in events(stale)[:-1]]
    assert "".join(pieces) == "answer 1 is here"


KEY = "orch-cache-sdk-key-123"


@pytest.fixture(scope="module")
def server_url() -> Iterator[str]:
    # sampled answers cached too: the Anthropic SDK's stream helper sends no temperature
    settings = Settings(
        api_keys=KEY, simulator_latency_scale=0.0, cache_ttl_s=60, cache_sampled=True
    )
    app = create_app(build_services(settings, {}))
    with serve_in_thread(app, loop="uvloop", http="httptools") as url:
        yield url


def test_the_openai_sdk_parses_a_replayed_stream(server_url: str) -> None:
    client = openai.OpenAI(base_url=f"{server_url}/v1", api_key=KEY, max_retries=0)
    asked: dict[str, Any] = {
        "model": "auto",
        "messages": [{"role": "user", "content": "Name three rivers."}],
        "temperature": 0,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    live = list(client.chat.completions.create(**asked))
    raw = client.chat.completions.with_raw_response.create(**asked)
    assert raw.headers["x-orchestra-cache"] == "hit"
    replayed = list(raw.parse())

    def text(chunks: list[Any]) -> str:
        return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)

    assert text(replayed) == text(live) and text(live)
    assert replayed[-1].usage == live[-1].usage and live[-1].usage is not None


def test_the_anthropic_sdk_parses_a_replayed_stream(server_url: str) -> None:
    client = anthropic.Anthropic(base_url=server_url, api_key=KEY, max_retries=0)
    asked: dict[str, Any] = {
        "model": "auto",
        "max_tokens": 200,
        "messages": [{"role": "user", "content": "Name three lakes."}],
    }
    with client.messages.stream(**asked) as stream:
        live = stream.get_final_message()
    with client.messages.stream(**asked) as stream:
        replayed = stream.get_final_message()
    assert replayed.content == live.content and live.content
    assert replayed.usage.output_tokens == live.usage.output_tokens
    buffered = client.messages.with_raw_response.create(**asked)
    assert buffered.headers["x-orchestra-cache"] == "hit"
    assert [b.text for b in buffered.parse().content] == [b.text for b in live.content]  # type: ignore[union-attr]
