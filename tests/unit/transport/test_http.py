"""The gateway's own way to an upstream: requests built once-parsed, sent to the transport.

Real loopback traffic (the aiohttp transport against :class:`FakeUpstream`), so what an
upstream receives is what a vendor would.
"""

from __future__ import annotations

import json

import httpx
import pytest

from orchestra.errors import MalformedResponse
from orchestra.providers.base import CallOptions, ProviderConfig
from orchestra.providers.openai import OpenAIProvider
from orchestra.schemas.chat import ChatRequest
from orchestra.transport.http import USER_AGENT, HttpClients, post_request, read_json
from orchestra.transport.ssrf import AddressPolicy

from support.upstream import FakeUpstream, Reply

COMPLETION = {
    "id": "chatcmpl-1",
    "created": 1,
    "model": "m",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}}],
    "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
}


@pytest.fixture
async def upstream():
    fake = FakeUpstream(default=Reply.json(COMPLETION))
    await fake.start()
    yield fake
    await fake.stop()


def _provider(base_url: str, http: HttpClients) -> OpenAIProvider:
    config = ProviderConfig(name="up", type="openai", base_url=base_url + "/v1", api_key="sk-test")
    return OpenAIProvider(config, http)


def _chat(text: str = "Say hello.") -> ChatRequest:
    return ChatRequest.model_validate(
        {"model": "m", "messages": [{"role": "user", "content": text}]}
    )


async def test_an_upstream_cookie_never_rides_along_on_later_calls():
    # Given an upstream that sets a cookie on every answer
    cookies: list[str | None] = []

    def answer(request: httpx.Request) -> httpx.Response:
        cookies.append(request.headers.get("cookie"))
        headers = {"set-cookie": "session=tenant-a; Path=/; Domain=upstream.test"}
        return httpx.Response(200, json=COMPLETION, headers=headers)

    http = HttpClients.with_transport(httpx.MockTransport(answer))
    provider = _provider("https://upstream.test", http)
    # When two calls go through the same shared client (two tenants, say)
    await provider.complete(_chat(), "m", CallOptions(timeout=5))
    await provider.complete(_chat(), "m", CallOptions(timeout=5))
    # Then the second carries no cookie: the gateway keeps no jar shared by every tenant
    assert cookies == [None, None]


async def test_the_request_is_the_vendors_json_with_auth_and_our_user_agent(upstream):
    http = HttpClients(policy=AddressPolicy(allow_private=True))
    provider = _provider(upstream.base_url, http)
    answer = await provider.complete(_chat("Grüße, 世界"), "m", CallOptions(timeout=5))
    await http.aclose()
    sent = upstream.requests[0]
    assert answer.choices[0].message.content == "hi"
    assert sent["headers"]["authorization"] == "Bearer sk-test"
    assert sent["headers"]["user-agent"] == USER_AGENT
    assert sent["headers"]["content-type"] == "application/json"
    assert sent["body"]["messages"] == [{"role": "user", "content": "Grüße, 世界"}]
    assert sent["path"] == "/v1/chat/completions"


async def test_urls_are_parsed_once_and_the_cache_stays_bounded():
    http = HttpClients.with_transport(httpx.MockTransport(lambda r: httpx.Response(200)))
    provider = _provider("http://upstream.test", http)
    url = "http://upstream.test/v1/a"
    assert provider._url(url) is provider._url(url)  # parsed once, then reused
    sent = provider.post(url, CallOptions(timeout=1), {}, json={"a": 1})
    assert sent.url == httpx.URL(url) and sent.content == b'{"a":1}'
    for i in range(1000):  # model names in URLs (Gemini, Bedrock) must not grow it forever
        provider.post(f"http://upstream.test/v1/m{i}", CallOptions(timeout=1), {}, json={})
    assert len(provider._urls) <= 256


async def test_send_reads_the_body_and_honours_the_calls_timeout():
    seen: list[dict[str, float]] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request.extensions["timeout"])
        return httpx.Response(200, json={"ok": True})

    http = HttpClients.with_transport(httpx.MockTransport(answer))
    timeout = httpx.Timeout(7.0, connect=2.0)
    request = post_request(httpx.URL("http://upstream.test/x"), httpx.Headers(), b"{}", timeout)
    response = await http.send(request)
    assert response.json() == {"ok": True} and response.request is request
    assert seen == [{"connect": 2.0, "read": 7.0, "write": 7.0, "pool": 7.0}]
    await http.aclose()


@pytest.mark.parametrize("body", [b"", b"<html>502 Bad Gateway</html>", b'{"a": ', b"\xff\xfe"])
async def test_a_body_that_is_not_json_is_a_malformed_response(body):
    # read_json keeps the standard library's error type, which map_errors makes typed
    with pytest.raises(json.JSONDecodeError):
        read_json(httpx.Response(200, content=body))
    http = HttpClients.with_transport(
        httpx.MockTransport(lambda r: httpx.Response(200, content=body))
    )
    with pytest.raises(MalformedResponse):
        await _provider("http://upstream.test", http).complete(_chat(), "m", CallOptions(timeout=1))


async def test_a_configured_user_agent_wins():
    sent: list[list[str]] = []

    def answer(request: httpx.Request) -> httpx.Response:
        sent.append(request.headers.get_list("user-agent"))
        return httpx.Response(200, json=COMPLETION)

    http = HttpClients.with_transport(httpx.MockTransport(answer))
    config = ProviderConfig(
        name="up",
        type="openai",
        base_url="https://upstream.test/v1",
        headers={"User-Agent": "mine/1"},
    )
    await OpenAIProvider(config, http).complete(_chat(), "m", CallOptions(timeout=5))
    assert sent == [["mine/1"]]
