"""SSRF rules: operators configure upstreams; nobody can point them at metadata.

Clients can never supply a base URL; this guards the configuration itself, twice:

- :func:`validate_base_url` checks a base URL as written when the configuration is read.
  A host that ends in a number is parsed the way ``inet_aton`` (and so ``getaddrinfo``)
  parses it (``0xa9.254.169.254``, ``0251.0376.0251.0376``, ``169.254.43518``, ``127.1``),
  and refused if it is not a valid address that way.
- :func:`check_address` judges every address a name resolves to when a connection is made
  (``providers/resolver.py`` calls it from the HTTP client's resolver), so a name whose
  record points at a forbidden address, or changes to one later (DNS rebinding), is refused
  before any socket connects.

Link-local and instance-metadata addresses are always refused; loopback and private ranges
only when the deployment allows them (local mode, or an explicit opt-in for a self-hosted
model in a VPC). IPv6 forms that carry an IPv4 address (mapped, NAT64, 6to4, Teredo) are
judged by the IPv4 address they carry too.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from orchestra.errors import UnsafeBaseURL

__all__ = [
    "AddressPolicy",
    "UnsafeBaseURL",
    "check_address",
    "host_address",
    "validate_base_url",
]

Address = ipaddress.IPv4Address | ipaddress.IPv6Address

_METADATA_HOSTS = {
    "metadata",
    "metadata.google.internal",
    "metadata.goog",
    "instance-data",
    "instance-data.ec2.internal",
}
_METADATA_ADDRESSES = {
    ipaddress.ip_address("169.254.169.254"),  # AWS, GCP, Azure, OpenStack...
    ipaddress.ip_address("169.254.170.2"),  # ECS task metadata
    ipaddress.ip_address("fd00:ec2::254"),  # AWS over IPv6
    ipaddress.ip_address("100.100.100.200"),  # Alibaba Cloud
    ipaddress.ip_address("168.63.129.16"),  # Azure WireServer
}
_LOCAL_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost", "host.docker.internal"}
#: 100.64.0.0/10 (carrier-grade NAT, also used inside VPCs): neither private nor global
_SHARED = ipaddress.ip_network("100.64.0.0/10")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_NUMERIC_LABEL = re.compile(r"(0x[0-9a-f]*|[0-9]+)")
_INET_ATON_PART = re.compile(r"0x[0-9a-f]*|0[0-7]*|[1-9][0-9]*")


@dataclass(frozen=True)
class AddressPolicy:
    """Whether private and loopback addresses may be reached: everywhere, or for some hosts
    (providers configured with ``allow_private: true``). Link-local and metadata never."""

    allow_private: bool = False
    private_hosts: frozenset[str] = frozenset()

    @classmethod
    def for_hosts(cls, allow_private: bool, hosts: Iterable[str]) -> AddressPolicy:
        return cls(allow_private, frozenset(_normal(h) for h in hosts))

    def allows_private(self, host: str) -> bool:
        return self.allow_private or _normal(host) in self.private_hosts


def validate_base_url(url: str, *, allow_private: bool, provider: str | None = None) -> str:
    """Return ``url`` without a trailing slash, or raise :class:`UnsafeBaseURL`."""
    try:
        _check_url(url, allow_private)
    except UnsafeBaseURL as exc:
        # One line for an operator: the provider, the URL (credentials masked) and the rule
        who = f"provider {provider!r}: " if provider else ""
        message = f"{who}base URL {_masked(url)} refused by the SSRF rule {exc.rule!r}: {exc}"
        raise UnsafeBaseURL(message, rule=exc.rule, url=url, provider=provider) from None
    return url.rstrip("/")


def _masked(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    authority, slash, path = rest.partition("/")
    if "@" in authority:
        authority = "***@" + authority.rsplit("@", 1)[1]
    return "".join((scheme, sep, authority, slash, path)).replace("\n", " ")


def _check_url(url: str, allow_private: bool) -> None:
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (a port that is not a number raises here)
    except ValueError:  # e.g. a bracketed host that is not an IPv6 address
        raise UnsafeBaseURL("it is not a valid URL", rule="malformed_host") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UnsafeBaseURL("it must be http(s)://host/...", rule="scheme")
    if parts.username or parts.password:
        raise UnsafeBaseURL("it must not embed credentials", rule="credentials")
    host = _normal(parts.hostname)
    if host in _METADATA_HOSTS or (host.endswith(".internal") and "metadata" in host):
        raise UnsafeBaseURL(f"it points at an instance-metadata service ({host})", rule="metadata")
    address = host_address(host)
    if address is not None:
        check_address(address, allow_private=allow_private)
    elif (host in _LOCAL_NAMES or host.endswith(".localhost")) and not allow_private:
        raise UnsafeBaseURL(
            f"it points at this machine ({host}), which is not allowed here", rule="private"
        )
    if parts.scheme == "http" and not allow_private:
        raise UnsafeBaseURL("plain http is only allowed for local upstreams", rule="plain_http")


def host_address(host: str) -> Address | None:
    """The address a URL host stands for, or None for a DNS name.

    Raises :class:`UnsafeBaseURL` for a host that looks like an address but is not one
    (``getaddrinfo`` might still read it as one, or send it to DNS).
    """
    host = _normal(host)
    if ":" in host or host.startswith("["):
        try:
            return ipaddress.ip_address(host.strip("[]"))
        except ValueError:
            raise UnsafeBaseURL(
                f"{host!r} is not a valid IPv6 address", rule="malformed_host"
            ) from None
    if not _NUMERIC_LABEL.fullmatch(host.rsplit(".", 1)[-1]):
        return None  # ends in a name label: a DNS name (its addresses are checked at connect)
    address = _inet_aton(host)
    if address is None:
        raise UnsafeBaseURL(f"{host!r} is not a valid IPv4 address", rule="malformed_host")
    return address


def _inet_aton(host: str) -> ipaddress.IPv4Address | None:
    """``a.b.c.d``, ``a.b.c``, ``a.b`` or ``a``, each part decimal, octal (0...) or hex (0x...)."""
    parts = host.split(".")
    if not 1 <= len(parts) <= 4 or not all(_INET_ATON_PART.fullmatch(p) for p in parts):
        return None
    *head, last = [_inet_aton_number(p) for p in parts]
    if any(n > 255 for n in head) or last >= 256 ** (4 - len(head)):
        return None
    value = last
    for i, n in enumerate(head):
        value += n << (8 * (3 - i))
    return ipaddress.IPv4Address(value)


def _inet_aton_number(part: str) -> int:
    if part.startswith("0x"):
        return int(part[2:] or "0", 16)
    return int(part, 8 if part.startswith("0") else 10)


def check_address(address: Address, *, allow_private: bool) -> None:
    """Raise :class:`UnsafeBaseURL` unless an upstream may be reached at ``address``."""
    for target in _targets(address):
        _check_one(target, allow_private, shown=address)


def _targets(address: Address) -> list[Address]:
    """The addresses to judge: an IPv6 form carrying IPv4 is judged by what it carries."""
    if not isinstance(address, ipaddress.IPv6Address):
        return [address]
    address = ipaddress.IPv6Address(int(address))  # without a %zone, which breaks equality
    if address.ipv4_mapped is not None:
        return [address.ipv4_mapped]
    if address in _NAT64:
        return [ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)]
    carried = [address.sixtofour] if address.sixtofour is not None else []
    if address.teredo is not None:
        carried.append(address.teredo[1])
    return [address, *carried]


def _check_one(address: Address, allow: bool, shown: Address) -> None:
    if address in _METADATA_ADDRESSES:
        raise UnsafeBaseURL(f"it points at an instance-metadata address ({shown})", rule="metadata")
    if address.is_link_local:
        raise UnsafeBaseURL(f"it points at a link-local address ({shown})", rule="link_local")
    if address.is_unspecified or address.is_multicast:
        raise UnsafeBaseURL(f"it points at an unusable address ({shown})", rule="unusable")
    if address.is_private or address.is_loopback or address in _SHARED:  # ::1 is also reserved
        if not allow:
            raise UnsafeBaseURL(
                f"it points at a private address ({shown}); "
                "set ORCHESTRA_ALLOW_PRIVATE_BASE_URLS=true (or allow_private: true) to allow it",
                rule="private",
            )
        return
    if address.is_reserved:
        raise UnsafeBaseURL(f"it points at an unusable address ({shown})", rule="unusable")


def _normal(host: str) -> str:
    return host.lower().rstrip(".")
