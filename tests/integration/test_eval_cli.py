"""``orchestra eval`` end to end, in-process with the simulator answering from GSM8K: the
run and its report, resume after a kill, the ``--max-cost`` refusal, another run's directory.
(The progress bar's lines are checked on their own, without the gateway.)"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from orchestra.cli import main
from orchestra.cli.eval_confirm import ProgressBar, progress_line
from orchestra.evaluation.runner import Progress

from support.evaluation import simulated_gateway

LIMIT = 20
STRATEGIES = ["--strategy", "sim-large", "--strategy", "sample(sim-small, k=3)"]


@pytest.fixture
def simulated(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    yield from simulated_gateway(monkeypatch)


def evaluate(out: Path, *extra: str) -> int:
    args = ["eval", "--dataset", "gsm8k", "--limit", str(LIMIT), *STRATEGIES]
    return main([*args, "--out", str(out), "--concurrency", "4", *extra])


def lines(out: Path) -> list[dict[str, object]]:
    path = out / "results.jsonl"
    return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []


def test_a_run_answers_every_pair_and_writes_the_report(
    tmp_path: Path, simulated: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert evaluate(tmp_path) == 0
    err = capsys.readouterr().err
    assert "LOCAL SIMULATOR" in err and "estimate: $" in err
    rows = lines(tmp_path)
    assert len(rows) == 2 * LIMIT
    assert len({(r["strategy"], r["item"]) for r in rows}) == 2 * LIMIT
    assert all(r["grade"] is not None for r in rows)
    manifest = json.loads((tmp_path / "run.json").read_text())
    assert manifest["simulated"] and manifest["dataset"] == "gsm8k"
    assert (tmp_path / "report.md").exists()
    # the simulator's sim-large is right most of the time on its oracle's questions
    large = [r for r in rows if r["strategy"] == "sim-large"]
    assert sum(bool(r["grade"]["correct"]) for r in large) >= LIMIT // 2  # type: ignore[index]
    # And the report can be rebuilt from the files alone
    assert main(["eval", "report", "--out", str(tmp_path)]) == 0
    assert "report.md" in capsys.readouterr().out


def test_a_killed_run_continues_exactly(
    tmp_path: Path, simulated: None, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a finished run cut back to 13 lines and a torn 14th (a kill mid-write)
    assert evaluate(tmp_path) == 0
    path = tmp_path / "results.jsonl"
    kept = path.read_text().splitlines(keepends=True)[:13]
    path.write_text("".join(kept) + '{"strategy": "sim-large", "it')
    capsys.readouterr()
    # When the same command runs again
    assert evaluate(tmp_path) == 0
    # Then it asked only the 27 missing pairs: every pair once, the 13 kept untouched
    rows = lines(tmp_path)
    assert len(rows) == 2 * LIMIT
    assert len({(r["strategy"], r["item"]) for r in rows}) == 2 * LIMIT
    assert [json.dumps(r) for r in rows[:13]] == [json.dumps(json.loads(x)) for x in kept]
    assert "13 pairs already answered" in capsys.readouterr().err


def test_max_cost_below_the_estimate_refuses_before_any_call(
    tmp_path: Path, simulated: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert evaluate(tmp_path, "--max-cost", "0.000001") == 3
    assert "refused" in capsys.readouterr().err
    assert lines(tmp_path) == []


def test_another_seed_in_the_same_directory_is_a_usage_error(
    tmp_path: Path, simulated: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert evaluate(tmp_path, "--limit", "2") == 0
    capsys.readouterr()
    assert evaluate(tmp_path, "--limit", "2", "--seed", "5") == 2
    assert "--fresh" in capsys.readouterr().err


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["eval", "--strategy", "sim-large"]) == 2
    assert main(["eval", "--dataset", "x.jsonl", "--strategy", "m", "--concurrency", "0"]) == 2
    err = capsys.readouterr().err
    assert "--dataset" in err and "--concurrency must be at least 1" in err


def test_progress_prints_a_line_per_tenth_off_a_terminal() -> None:
    stream = io.StringIO()
    bar = ProgressBar(stream, tty=False)
    for done in range(41):
        bar(Progress(done, 40, correct=done // 2, graded=done, errors=0, spent=done * 0.001))
    shown = stream.getvalue().splitlines()
    assert len(shown) == 11  # 0%, 10%, ... 100%
    assert shown[-1] == "[####################] 40/40 pairs  accuracy 50.0%  spent $0.0400"


def test_progress_rewrites_one_line_on_a_terminal() -> None:
    stream = io.StringIO()
    bar = ProgressBar(stream, tty=True)
    bar(Progress(0, 4, 0, 0, 0, 0.0))
    bar(Progress(1, 4, 1, 1, 1, 0.5))
    bar.close()
    assert stream.getvalue().count("\r") == 2 and stream.getvalue().endswith("\n")
    line = progress_line(Progress(1, 4, 1, 1, 1, 0.5))
    assert line == "[#####---------------] 1/4 pairs  accuracy 100.0%  spent $0.5000  errors 1"
