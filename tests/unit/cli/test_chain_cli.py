"""``orchestra chain run FILE --input k=v``: each step printed as it ends, then the outputs."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestra.cli import main
from orchestra.config import get_settings


@pytest.fixture
def simulated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORCHESTRA_SIMULATOR", "true")
    monkeypatch.setenv("ORCHESTRA_SIMULATOR_LATENCY_SCALE", "0")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_a_chain_file_runs_and_prints_each_step(
    simulated: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "brief.yaml"
    path.write_text(
        "inputs:\n  topic: {type: string}\n  items: {type: array}\nsteps:\n"
        '  - {id: outline, kind: generate, model: sim-small, prompt: "Outline {{ inputs.topic }}"}\n'
        "  - {id: points, kind: map, over: inputs.items,"
        ' step: {kind: generate, model: sim-small, prompt: "{{ item }}"}}\n'
        'outputs:\n  first: "{{ steps.outline.output }}"\n'
    )
    code = main(
        ["chain", "run", str(path), "--input", "topic=tides", "--input-json", 'items=["x","y"]']
    )
    out = capsys.readouterr().out
    assert code == 0, out
    lines = out.splitlines()
    assert lines[0].startswith("chain run chrun_")
    assert (
        lines[1].startswith("steps[0]")
        and "outline" in lines[1]
        and "simulator/sim-small" in lines[1]
    )
    assert [line.split()[0] for line in lines[2:5]] == [
        "steps[1]",
        "steps[1].items[0]",
        "steps[1].items[1]",
    ]
    assert "== succeeded" in out and "-- first:" in out
    assert "(worst case $" in out  # the estimate checked before the start


def test_a_missing_input_or_a_bad_file_exits_2_and_a_failed_run_1(
    simulated: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(
        'inputs:\n  topic: {type: string}\nsteps:\n  - {id: a, kind: generate, prompt: "{{ inputs.topic }}"}\n'
    )
    assert main(["chain", "run", str(path)]) == 2
    assert "topic" in capsys.readouterr().err
    bad = tmp_path / "bad.yaml"
    bad.write_text("steps:\n  - {id: a, kind: nope}\n")
    assert main(["chain", "run", str(bad)]) == 2
    assert "steps[0]" in capsys.readouterr().err
    failing = tmp_path / "f.yaml"
    failing.write_text(
        "inputs:\n  items: {type: array}\nsteps:\n  - {id: m, kind: map, over: inputs.items,"
        ' max_items: 1, step: {kind: generate, model: sim-small, prompt: "{{ item }}"}}\n'
    )
    assert main(["chain", "run", str(failing), "--input-json", 'items=["a","b"]']) == 1
    out = capsys.readouterr().out
    assert "== failed" in out and "more than max_items 1" in out
    assert "error (workflow_failed): steps[0] (m): 2 items, more than max_items 1" in out
