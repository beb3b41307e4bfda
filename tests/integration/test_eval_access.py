"""``orchestra eval`` against a gateway it cannot use: a refused key or an unreachable URL is
ONE clear line and exit 2 (no traceback, no pair failing the same way N times, no files);
in-process runs take ``ORCHESTRA_API_KEY`` as ``--base-url`` ones do; ``--max-cost`` cannot
hold on models without a price, so it refuses them unless ``--yes``."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from orchestra.cli import main
from orchestra.config import get_settings


@pytest.fixture
def keyed(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """The in-process simulator, requiring one of two client keys."""
    monkeypatch.setenv("ORCHESTRA_SIMULATOR", "true")
    monkeypatch.setenv("ORCHESTRA_SIMULATOR_LATENCY_SCALE", "0")
    monkeypatch.setenv("ORCHESTRA_API_KEYS", "key-one,key-two")
    get_settings.cache_clear()
    yield monkeypatch
    get_settings.cache_clear()


def evaluate(out: Path, *extra: str) -> int:
    args = ["eval", "--dataset", "gsm8k", "--limit", "3", "--strategy", "sim-large"]
    return main([*args, "--out", str(out), *extra])


def test_a_wrong_key_in_process_is_one_line_and_exit_2(
    tmp_path: Path, keyed: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    keyed.setenv("ORCHESTRA_API_KEY", "not-a-key")
    assert evaluate(tmp_path / "out") == 2
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in err
    assert "refused the key (401" in errors[0] and "--api-key or ORCHESTRA_API_KEY" in errors[0]
    assert not (tmp_path / "out").exists()  # nothing asked, nothing written


def test_in_process_runs_use_orchestra_api_key(
    tmp_path: Path, keyed: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    keyed.setenv("ORCHESTRA_API_KEY", "key-two")
    assert evaluate(tmp_path) == 0
    rows = (tmp_path / "results.jsonl").read_text().splitlines()
    assert len(rows) == 3 and all(json.loads(r)["outcome"]["error"] is None for r in rows)


def test_an_unreachable_base_url_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as bound:  # a loopback port nobody listens on
        bound.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{bound.getsockname()[1]}"
        assert evaluate(tmp_path, "--base-url", url, "--api-key", "k") == 2
    err = capsys.readouterr().err
    assert err.count("error:") == 1 and "Traceback" not in err
    assert f"cannot reach the gateway at {url}" in err


def test_max_cost_refuses_models_without_a_price_unless_yes(
    tmp_path: Path, keyed: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    keyed.delenv("ORCHESTRA_API_KEYS")
    get_settings.cache_clear()
    # a name that may be an alias of a served one (sim-large): warned about, not refused
    args = ["--strategy", "sim-large2", "--max-cost", "5"]
    # Given a model the gateway lists no price for, and a cap
    assert evaluate(tmp_path, *args) == 3
    err = capsys.readouterr().err
    assert "warning: strategy 'sim-large2': model 'sim-large2' is not served" in err
    assert "refused: --max-cost cannot hold on models without a price (sim-large2)" in err
    assert "assumed: 300 completion tokens per answer (--answer-tokens)" in err
    assert not (tmp_path / "results.jsonl").exists()  # refused before anything is written
    # With --yes it runs (the unknown model's pairs fail: exit 1), its calls counted free
    assert evaluate(tmp_path, *args, "--yes", "--answer-tokens", "50") == 1
    err = capsys.readouterr().err
    assert "running anyway, their calls count as free (--yes)" in err
    assert "assumed: 50 completion tokens" in err
