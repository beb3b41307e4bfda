"""SSRF at connect time: every address a name resolves to is judged before a socket opens.

DNS is a stubbed resolver (a name -> the address under test); the real aiohttp connector
and the shared HTTP client run above it. A forbidden address must fail the request before
aiohttp starts any connection, which the ``sockets`` fixture turns into a test failure.
"""

from __future__ import annotations

import socket
from typing import Any

import aiohappyeyeballs
import httpx
import pytest
from aiohttp.abc import AbstractResolver, ResolveResult

from orchestra.errors import UnsafeBaseURL, UpstreamAddressRefused
from orchestra.providers.base import CallOptions, ProviderConfig
from orchestra.providers.openai import OpenAIProvider
from orchestra.providers.registry import ProviderEntry, _from_entry, address_policy
from orchestra.schemas.chat import ChatRequest
from orchestra.transport import resolver as resolver_module
from orchestra.transport.http import HttpClients
from orchestra.transport.ssrf import AddressPolicy

from support.upstream import FakeUpstream, Reply


class StubDNS(AbstractResolver):
    """Answers from a table; counts lookups (aiohttp asks only for connections it opens)."""

    def __init__(self) -> None:
        self.records: dict[str, str] = {}
        self.lookups: list[str] = []

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        self.lookups.append(host)
        address = self.records[host]
        kind = socket.AF_INET6 if ":" in address else socket.AF_INET
        return [
            {
                "hostname": host,
                "host": address,
                "port": port,
                "family": kind,
                "proto": 0,
                "flags": 0,
            }
        ]

    async def close(self) -> None:
        return None


@pytest.fixture
def dns(monkeypatch: pytest.MonkeyPatch) -> StubDNS:
    stub = StubDNS()
    monkeypatch.setattr(resolver_module, "DefaultResolver", lambda: stub)
    return stub


@pytest.fixture
def sockets(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Connection attempts to anything but loopback fail the test (and are recorded)."""
    attempts: list[Any] = []
    real = aiohappyeyeballs.start_connection

    async def start_connection(addr_infos: Any, *args: Any, **kw: Any) -> socket.socket:
        attempts.append([info[4] for info in addr_infos])
        if any(not info[4][0].startswith("127.") for info in addr_infos):
            raise AssertionError(f"a socket was opened towards {addr_infos}")
        return await real(addr_infos, *args, **kw)

    monkeypatch.setattr(aiohappyeyeballs, "start_connection", start_connection)
    return attempts


FORBIDDEN = [
    ("169.254.169.254", "metadata"),  # instance metadata
    ("100.100.100.200", "metadata"),  # Alibaba Cloud metadata
    ("169.254.10.1", "link_local"),
    ("2002:a9fe:a9fe::1", "metadata"),  # 6to4 form of 169.254.169.254
    ("2002:a9fe:0a01::1", "link_local"),  # 6to4 form of 169.254.10.1
    ("fe80::1", "link_local"),
    ("::ffff:169.254.169.254", "metadata"),
]
PRIVATE = ["10.0.0.1", "127.0.0.1", "192.168.1.20", "100.64.3.4", "::1", "fd12::1"]


async def _get(http: HttpClients, url: str) -> httpx.Response:
    return await http.get().get(url)


@pytest.mark.parametrize("allow_private", [False, True])
@pytest.mark.parametrize(("address", "rule"), FORBIDDEN)
async def test_link_local_and_metadata_answers_are_refused_before_any_socket(
    dns, sockets, address, rule, allow_private
):
    # Given a public-looking name whose record points at a forbidden address
    dns.records["api.evil.test"] = address
    http = HttpClients(policy=AddressPolicy(allow_private=allow_private))
    # When the client connects to it
    with pytest.raises(UnsafeBaseURL) as caught:
        await _get(http, "https://api.evil.test/v1/models")
    await http.aclose()
    # Then the resolver refused it, whatever allow_private says, and no socket was opened
    assert caught.value.rule == rule
    assert dns.lookups == ["api.evil.test"]
    assert sockets == []


@pytest.mark.parametrize("address", PRIVATE)
async def test_private_answers_are_refused_unless_allowed(dns, sockets, address):
    dns.records["wildcard.evil.test"] = address
    http = HttpClients(policy=AddressPolicy(allow_private=False))
    with pytest.raises(UnsafeBaseURL) as caught:
        await _get(http, "http://wildcard.evil.test:8000/v1/models")
    await http.aclose()
    assert caught.value.rule == "private"
    assert sockets == []


async def test_the_default_policy_is_public_addresses_only(dns, sockets):
    dns.records["api.evil.test"] = "10.0.0.1"
    http = HttpClients()
    with pytest.raises(UnsafeBaseURL, match="private"):
        await _get(http, "https://api.evil.test/v1")
    await http.aclose()
    assert sockets == []


@pytest.fixture
async def upstream():
    fake = FakeUpstream(default=Reply.json({"ok": True}))
    await fake.start()
    yield fake
    await fake.stop()


def _named(upstream: FakeUpstream, name: str) -> str:
    return upstream.base_url.replace("127.0.0.1", name)


async def test_allowed_private_names_connect(dns, sockets, upstream):
    # Given a local upstream behind a name, allowed by the deployment
    dns.records["vllm.internal.test"] = "127.0.0.1"
    http = HttpClients(policy=AddressPolicy(allow_private=True))
    # When it is called, Then the request goes through
    response = await _get(http, _named(upstream, "vllm.internal.test") + "/v1/models")
    await http.aclose()
    assert response.json() == {"ok": True}
    assert len(sockets) == 1


async def test_allow_private_per_provider_covers_only_its_own_host(dns, sockets, upstream):
    dns.records["vllm.internal.test"] = "127.0.0.1"
    dns.records["other.internal.test"] = "127.0.0.1"
    entry = ProviderEntry(
        name="vllm",
        type="openai",
        base_url=_named(upstream, "vllm.internal.test") + "/v1",
        allow_private=True,
    )
    policy = address_policy([_from_entry(entry, {}, allow_private=False)], allow_private=False)
    http = HttpClients(policy=policy)
    ok = await _get(http, _named(upstream, "vllm.internal.test") + "/v1/models")
    with pytest.raises(UnsafeBaseURL, match="private"):
        await _get(http, _named(upstream, "other.internal.test") + "/v1/models")
    await http.aclose()
    assert ok.status_code == 200
    assert len(sockets) == 1


async def test_a_record_that_changes_later_is_checked_again(dns, sockets, upstream):
    # Given a name that first resolves to an allowed address (DNS rebinding)
    dns.records["rebind.evil.test"] = "127.0.0.1"
    http = HttpClients(policy=AddressPolicy(allow_private=True))
    url = _named(upstream, "rebind.evil.test") + "/v1/models"
    first = await http.get().get(url, headers={"connection": "close"})
    # When the record changes and the connector resolves again (its cache entry expired)
    dns.records["rebind.evil.test"] = "169.254.169.254"
    http.get()._transport.client.connector.clear_dns_cache()  # type: ignore[attr-defined]
    # Then the next connection is refused before a socket opens
    with pytest.raises(UnsafeBaseURL, match="metadata"):
        await http.get().get(url)
    await http.aclose()
    assert first.status_code == 200
    assert dns.lookups == ["rebind.evil.test", "rebind.evil.test"]
    assert len(sockets) == 1


async def test_requests_on_a_kept_alive_connection_do_not_resolve_again(dns, upstream):
    dns.records["vllm.internal.test"] = "127.0.0.1"
    http = HttpClients(policy=AddressPolicy(allow_private=True))
    url = _named(upstream, "vllm.internal.test") + "/v1/models"
    for _ in range(5):
        assert (await _get(http, url)).status_code == 200
    await http.aclose()
    assert dns.lookups == ["vllm.internal.test"]


async def test_a_provider_call_becomes_a_typed_upstream_error(dns, sockets):
    # Given a configured provider whose name resolves to the metadata address
    dns.records["llm.evil.test"] = "169.254.169.254"
    config = ProviderConfig(name="evil", type="openai", base_url="https://llm.evil.test/v1")
    provider = OpenAIProvider(config, HttpClients(policy=AddressPolicy(allow_private=False)))
    request = ChatRequest.model_validate(
        {"model": "evil/m", "messages": [{"role": "user", "content": "hi"}]}
    )
    # When it is called, Then a typed 502 that lets the chain fall back, naming no address
    with pytest.raises(UpstreamAddressRefused) as caught:
        await provider.complete(request, "m", CallOptions(timeout=5.0))
    await provider.http.aclose()
    error = caught.value
    assert (error.status, error.rule, error.fallback, error.retryable) == (
        502,
        "metadata",
        True,
        False,
    )
    assert "169.254" not in error.message
    assert error.to_body()["error"]["code"] == "upstream_address_refused"
    assert sockets == []
