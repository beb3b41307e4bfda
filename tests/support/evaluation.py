"""``orchestra eval``'s tests: the in-process gateway answering with the simulator."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from orchestra.config import get_settings


def simulated_gateway(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """For a fixture to ``yield from``: the simulator answering at once, no client key
    required or sent, the settings read afresh (and again after the test)."""
    monkeypatch.setenv("ORCHESTRA_SIMULATOR", "true")
    monkeypatch.setenv("ORCHESTRA_SIMULATOR_LATENCY_SCALE", "0")
    monkeypatch.delenv("ORCHESTRA_API_KEYS", raising=False)
    monkeypatch.delenv("ORCHESTRA_API_KEY", raising=False)
    get_settings.cache_clear()
    yield monkeypatch
    get_settings.cache_clear()
