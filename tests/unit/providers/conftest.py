"""Provider adapter tests: fixtures shared by several modules."""

from __future__ import annotations

import pytest

from support.bedrock import KEY_ID, SECRET


@pytest.fixture
def bedrock_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """Static AWS keys for botocore to sign with (never a real account's)."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    monkeypatch.delenv("AWS_SECURITY_TOKEN", raising=False)
