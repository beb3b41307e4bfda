"""Base-URL validation: operators configure upstreams; nobody can point them at metadata.

Clients can never supply a base URL; this guards the configuration itself. Link-local and
instance-metadata addresses are always refused; loopback and private ranges only when the
deployment allows them (local mode, or an explicit opt-in for a self-hosted model in a VPC).
Names are checked as written (no DNS lookup at configuration time).
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from orchestra.errors import InvalidRequest

_METADATA_HOSTS = {
    "metadata",
    "metadata.google.internal",
    "metadata.goog",
    "instance-data",
    "instance-data.ec2.internal",
}
_LOCAL_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost", "host.docker.internal"}


class UnsafeBaseURL(InvalidRequest):
    code = "unsafe_base_url"


def validate_base_url(url: str, *, allow_private: bool) -> str:
    """Return ``url`` without a trailing slash, or raise :class:`UnsafeBaseURL`."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UnsafeBaseURL(f"base URL must be http(s)://host/...: {url!r}")
    if parts.username or parts.password:
        raise UnsafeBaseURL("base URL must not embed credentials")
    host = parts.hostname.lower().rstrip(".")
    if host in _METADATA_HOSTS or (host.endswith(".internal") and "metadata" in host):
        raise UnsafeBaseURL(f"base URL points at an instance-metadata service: {host}")
    address = _as_ip(host)
    if address is not None:
        _check_address(address, allow_private)
    elif (host in _LOCAL_NAMES or host.endswith(".localhost")) and not allow_private:
        raise UnsafeBaseURL(f"base URL points at this machine ({host}), which is not allowed here")
    if parts.scheme == "http" and not allow_private:
        raise UnsafeBaseURL("plain http base URLs are only allowed for local upstreams")
    return url.rstrip("/")


def _as_ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return _legacy_ipv4(host)
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _legacy_ipv4(host: str) -> ipaddress.IPv4Address | None:
    """Decimal/hex/octal forms such as ``2852039166`` or ``0xa9fea9fe`` (169.254.169.254)."""
    try:
        if host.isdigit():
            return ipaddress.IPv4Address(int(host))
        if host.startswith("0x"):
            return ipaddress.IPv4Address(int(host, 16))
    except ValueError:
        return None
    return None


def _check_address(address: ipaddress.IPv4Address | ipaddress.IPv6Address, allow: bool) -> None:
    if address.is_link_local or str(address) in ("169.254.169.254", "fd00:ec2::254"):
        raise UnsafeBaseURL(f"base URL points at a link-local/metadata address: {address}")
    if address.is_unspecified or address.is_multicast:
        raise UnsafeBaseURL(f"base URL points at an unusable address: {address}")
    if address.is_private or address.is_loopback:  # ::1 is also "reserved": check first
        if not allow:
            raise UnsafeBaseURL(
                f"base URL points at a private address ({address}); "
                "set ORCHESTRA_ALLOW_PRIVATE_BASE_URLS=true to allow it"
            )
        return
    if address.is_reserved:
        raise UnsafeBaseURL(f"base URL points at an unusable address: {address}")
