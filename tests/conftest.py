"""Suite-wide fixtures: recorded vendor payloads and a guard against real network use."""

from __future__ import annotations

import ipaddress
import json
import os
import socket
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _fixtures_dir() -> Path:
    override = os.environ.get("ORCHESTRA_FIXTURES")
    candidates = [Path(override)] if override else []
    candidates += [ROOT.parent / "shared" / "fixtures", ROOT / "shared" / "fixtures"]
    for candidate in candidates:
        if (candidate / "PROVENANCE.md").exists():
            return candidate
    raise RuntimeError(
        "recorded vendor fixtures not found: expected ../shared/fixtures beside the checkout "
        "(or set ORCHESTRA_FIXTURES)"
    )


FIXTURES = _fixtures_dir()


class Recorded:
    """Read recorded payloads from shared/fixtures by vendor and name."""

    root = FIXTURES

    def path(self, name: str) -> Path:
        return self.root / name

    def bytes(self, name: str) -> bytes:
        return self.path(name).read_bytes()

    def json(self, name: str) -> Any:
        return json.loads(self.path(name).read_text())

    def headers(self, name: str) -> tuple[int, dict[str, str]]:
        """(status, headers) from an ``X.headers.json`` sample; list values are joined."""
        meta = self.json(name)
        headers = {
            k: ", ".join(v) if isinstance(v, list) else str(v) for k, v in meta["headers"].items()
        }
        return int(meta["status"]), headers


@pytest.fixture(scope="session")
def recorded() -> Recorded:
    return Recorded()


_real_connect = socket.socket.connect


def _guarded_connect(self: socket.socket, address: Any) -> Any:
    host = address[0] if isinstance(address, tuple) else None
    if host is not None and self.family in (socket.AF_INET, socket.AF_INET6):
        try:
            ip = ipaddress.ip_address(host)
        except ValueError:
            ip = None
        if ip is None or not ip.is_loopback:
            raise RuntimeError(f"test tried to reach a non-loopback address: {host!r}")
    return _real_connect(self, address)


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail any test that tries to reach anything but 127.0.0.1 / ::1."""
    monkeypatch.setattr(socket.socket, "connect", _guarded_connect)


@pytest.fixture(autouse=True)
def _aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Dummy AWS credentials so boto3 never looks further, and no stray user settings."""
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SECURITY_TOKEN": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(key, value)
    for key in list(os.environ):
        if key.startswith("ORCHESTRA_") and key != "ORCHESTRA_FIXTURES":
            monkeypatch.delenv(key, raising=False)
        if key.endswith("_API_KEY"):
            monkeypatch.delenv(key, raising=False)
    # one session builds hundreds of apps: freezing the heap at each would keep every
    # test's garbage for good; the default (on) is checked in fresh interpreters
    monkeypatch.setenv("ORCHESTRA_GC_TUNING", "false")
