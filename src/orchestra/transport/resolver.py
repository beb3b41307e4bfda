"""The SSRF rules at connect time: a resolver for the aiohttp connector under the HTTP client.

aiohttp asks its resolver for the addresses of a host each time it opens a connection to a
name it has not resolved in the last few seconds (its DNS cache), never per request on a
kept-alive connection; every address it returns is judged by ``ssrf.check_address`` before
any socket is created, so a name that resolves (or starts resolving, DNS rebinding) to a
link-local, metadata or, where not allowed, private address never gets a connection.
Address literals skip resolvers in aiohttp; they are checked when the configuration is read.
"""

from __future__ import annotations

import ipaddress
import logging
import socket

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

from orchestra.transport.ssrf import AddressPolicy, UnsafeBaseURL, check_address

log = logging.getLogger("orchestra.providers")


class GuardedResolver(AbstractResolver):
    """Wraps a resolver (the default one unless given) and refuses forbidden addresses."""

    def __init__(self, policy: AddressPolicy, inner: AbstractResolver | None = None) -> None:
        self._policy = policy
        self._inner = inner if inner is not None else DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        allow_private = self._policy.allows_private(host)
        for result in results:
            try:
                check_address(_address(result["host"]), allow_private=allow_private)
            except UnsafeBaseURL as exc:
                log.warning("refused to connect to %s: %s (rule %s)", host, exc.message, exc.rule)
                exc.url = host
                raise
        return results

    async def close(self) -> None:
        await self._inner.close()


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        raise UnsafeBaseURL(
            f"the resolver returned {text!r}, not an address", rule="malformed_host"
        ) from None
