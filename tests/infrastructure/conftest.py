"""Both stages synthesized once per session (bundling skipped, cdk-nag on)."""

from __future__ import annotations

import pytest

from support.cdk_synth import Synth, synth


@pytest.fixture(scope="session")
def dev(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    return synth("dev", str(tmp_path_factory.mktemp("cdk-dev")))


@pytest.fixture(scope="session")
def prod(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    return synth("prod", str(tmp_path_factory.mktemp("cdk-prod")))


@pytest.fixture
def no_interpreter_override(monkeypatch: pytest.MonkeyPatch) -> None:
    """The bundle's interpreter is found, not forced by this machine's environment."""
    monkeypatch.delenv("ORCHESTRA_BUNDLE_PYTHON", raising=False)
