"""A real Ctrl-C: ``orchestra eval`` in a child process, SIGINT once it has answered a pair,
then the same command again: it says it resumes, and every pair is in the results exactly
once (none asked twice, none lost), the lines written before the interrupt untouched."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from orchestra.cli import main
from orchestra.config import get_settings

LIMIT = 12
COMMAND = [
    "eval",
    "--dataset",
    "gsm8k",
    "--limit",
    str(LIMIT),
    "--strategy",
    "sim-large",
    "--strategy",
    "sample(sim-small, k=3)",
    "--concurrency",
    "2",
]
#: the child installs Python's own Ctrl-C handler: a shell may start it with SIGINT ignored
CHILD = (
    "import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
    "from orchestra.cli import main; sys.exit(main(sys.argv[1:]))"
)


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def _interrupted(out: Path) -> subprocess.CompletedProcess[str]:
    """The command in a child, slow pairs (the simulator's latency doubled), SIGINT as soon
    as a pair is on disk."""
    env = {
        **os.environ,
        "ORCHESTRA_SIMULATOR": "true",
        "ORCHESTRA_SIMULATOR_LATENCY_SCALE": "2",
    }
    env.pop("ORCHESTRA_API_KEYS", None)
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, *COMMAND, "--out", str(out)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 30
    while not _lines(out / "results.jsonl") and time.monotonic() < deadline:
        time.sleep(0.05)
    child.send_signal(signal.SIGINT)
    stdout, stderr = child.communicate(timeout=30)
    return subprocess.CompletedProcess(child.args, child.returncode, stdout, stderr)


def test_ctrl_c_mid_run_then_the_same_command_continues_exactly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a run interrupted by a real SIGINT after its first answers
    done = _interrupted(tmp_path)
    assert done.returncode == 130, done.stderr
    assert "interrupted: rerun the same command to continue" in done.stderr
    assert "Traceback" not in done.stderr
    before = _lines(tmp_path / "results.jsonl")
    assert 1 <= len(before) < 2 * LIMIT  # stopped mid-way, whole lines only
    # When the same command runs again (here in-process, the simulator without delays)
    monkeypatch.setenv("ORCHESTRA_SIMULATOR", "true")
    monkeypatch.setenv("ORCHESTRA_SIMULATOR_LATENCY_SCALE", "0")
    monkeypatch.delenv("ORCHESTRA_API_KEYS", raising=False)
    get_settings.cache_clear()
    try:
        assert main([*COMMAND, "--out", str(tmp_path)]) == 0
    finally:
        get_settings.cache_clear()
    # Then it said it resumes, and every pair is there exactly once, the old lines untouched
    err = capsys.readouterr().err
    assert f"resuming {tmp_path}: {len(before)} pairs already answered" in err
    after = _lines(tmp_path / "results.jsonl")
    pairs = Counter((json.loads(x)["strategy"], json.loads(x)["item"]) for x in after)
    assert len(pairs) == 2 * LIMIT and set(pairs.values()) == {1}
    assert after[: len(before)] == before
