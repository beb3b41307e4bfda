"""The key and the URL ``orchestra eval`` uses are never printed: a transport error is named
by its type (a refused header's text quotes the header); a URL loses ``user:password@``;
a key is stripped, and refused (without quoting it) when no header can carry it."""

from __future__ import annotations

import argparse

import httpx
import pytest

from orchestra.cli.eval_access import AccessError, api_key, public_url
from orchestra.evaluation.client import safe_reason


def test_a_refused_header_error_is_named_by_its_type_only() -> None:
    leaked = httpx.LocalProtocolError("Illegal header value b'Bearer sk-SECRET\\r'")
    assert safe_reason(leaked) == "LocalProtocolError"
    refused = httpx.ConnectError("[Errno 111] Connection refused")
    assert safe_reason(refused) == "ConnectError: [Errno 111] Connection refused"


def test_a_url_loses_its_password() -> None:
    assert public_url("http://user:PW@localhost:8000/v") == "http://localhost:8000/v"
    assert public_url("https://gw.example") == "https://gw.example"
    for bad in ("http://[::1", "ftp://x", "localhost:8000"):
        with pytest.raises(AccessError) as raised:
            public_url(bad)
        assert bad not in str(raised.value)


def test_a_key_is_stripped_and_one_with_spaces_or_controls_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ORCHESTRA_API_KEY", " sk-1\r\n")
    assert api_key(argparse.Namespace(api_key=None)) == "sk-1"
    for key in ("sk 1", "sk\x001", "sk-é"):
        with pytest.raises(AccessError) as raised:
            api_key(argparse.Namespace(api_key=key))
        assert key not in str(raised.value) and "--api-key" in str(raised.value)
