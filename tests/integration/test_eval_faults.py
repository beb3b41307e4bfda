"""``orchestra eval`` against a failing upstream: the simulator's fault injection through the
in-process gateway. Failed pairs end the run with exit 1, show in the report as errors
counted wrong, and are the only pairs a rerun asks again."""

from __future__ import annotations

import json
from collections.abc import Iterator
from functools import partialmethod
from pathlib import Path

import pytest

from orchestra.cli import main
from orchestra.config import get_settings
from orchestra.evaluation.client import GatewayClient

from support.evaluation import simulated_gateway

LIMIT = 10
STRATEGIES = ["--strategy", "sim-large", "--strategy", "panel(sim-large, sim-small)"]


@pytest.fixture
def simulated(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    # the breakers stay shut: an open one makes the gateway wait out its 30 s cooldown when
    # no other candidate is left (its last resort), which is the gateway's test, not this one
    monkeypatch.setenv("ORCHESTRA_BREAKER_FAILURES", "1000")
    # the client's own waits on a 503 are off: the pairs must fail to test what failure does
    # (the waits are test_eval_limits' and test_client_retry's)
    init = partialmethod(GatewayClient.__init__, retries=0)
    monkeypatch.setattr(GatewayClient, "__init__", init)
    yield from simulated_gateway(monkeypatch)


def evaluate(out: Path, monkeypatch: pytest.MonkeyPatch, failure_rate: float) -> int:
    monkeypatch.setenv("ORCHESTRA_SIMULATOR_FAILURE_RATE", str(failure_rate))
    get_settings.cache_clear()
    args = ["eval", "--dataset", "gsm8k", "--limit", str(LIMIT), *STRATEGIES]
    return main([*args, "--out", str(out), "--concurrency", "4"])


def rows(out: Path) -> list[dict[str, object]]:
    return [json.loads(x) for x in (out / "results.jsonl").read_text().splitlines()]


def key(row: dict[str, object]) -> tuple[object, object]:
    return (row["strategy"], row["item"])


def test_failed_pairs_are_reported_and_only_they_are_asked_again(
    tmp_path: Path, simulated: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given an upstream failing half its calls (the gateway's retries do not save them all)
    assert evaluate(tmp_path, simulated, 0.5) == 1
    first = rows(tmp_path)
    failed = {key(r) for r in first if r["outcome"]["error"]}  # type: ignore[index]
    assert failed and len(first) == 2 * LIMIT
    assert all(r["outcome"]["retryable"] for r in first if key(r) in failed)  # type: ignore[index]
    # Then the report counts each failure as an error and as wrong
    summary = json.loads((tmp_path / "summary.json").read_text())
    for entry in summary["strategies"]:
        errors = sum(1 for spec, _ in failed if spec == entry["spec"])
        assert entry["errors"] == errors and entry["n"] == LIMIT
        assert entry["correct"] <= LIMIT - errors
        assert entry["accuracy"] == pytest.approx(entry["correct"] / LIMIT)
    # When the upstream recovers and the same command runs again
    capsys.readouterr()
    assert evaluate(tmp_path, simulated, 0.0) == 0
    # Then exactly the failed pairs were asked again, once each, and now all are answered
    again = rows(tmp_path)[len(first) :]
    assert sorted(map(key, again)) == sorted(failed)
    assert all(r["grade"] is not None and not r["outcome"]["error"] for r in again)  # type: ignore[index]
    assert f"{2 * LIMIT - len(failed)} pairs already answered" in capsys.readouterr().err
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert all(entry["errors"] == 0 for entry in summary["strategies"])
