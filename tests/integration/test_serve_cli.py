"""``orchestra serve`` start-up: a configuration it refuses is one clear line, not a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from orchestra.cli import main
from orchestra.config import get_settings


def _providers_file(tmp_path: Path, base_url: str) -> Path:
    path = tmp_path / "orchestra.yaml"
    path.write_text(
        "providers:\n"
        "  - name: evil\n"
        "    type: openai\n"
        f"    base_url: {base_url}\n"
        "    models: [{id: m, context_window: 8192}]\n"
    )
    return path


def test_serve_with_a_refused_base_url_prints_one_line_and_exits_non_zero(tmp_path: Path):
    # Given a providers file whose base URL is the instance-metadata address
    config = _providers_file(tmp_path, "http://169.254.169.254/latest")
    env = {**os.environ, "ORCHESTRA_CONFIG": str(config)}  # the suite cleared ORCHESTRA_*
    # When the gateway is started
    done = subprocess.run(
        [sys.executable, "-m", "orchestra.cli", "serve", "--port", "0"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    # Then it stops at once with one line naming the provider, the URL and the rule
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "Traceback" not in done.stderr
    assert "'evil'" in lines[0]
    assert "http://169.254.169.254/latest" in lines[0]
    assert "'metadata'" in lines[0]


@pytest.fixture
def settings_from_env():
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_credentials_in_a_refused_url_are_masked(tmp_path, monkeypatch, capsys, settings_from_env):
    config = _providers_file(tmp_path, "https://user:hunter2@llm.example.com/v1")
    monkeypatch.setenv("ORCHESTRA_CONFIG", str(config))
    assert main(["models"]) == 2
    err = capsys.readouterr().err
    assert "hunter2" not in err
    assert "https://***@llm.example.com/v1" in err
    assert "'credentials'" in err
