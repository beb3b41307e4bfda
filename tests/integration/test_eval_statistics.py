"""The statistics checked offline: the simulator answers GSM8K from its oracle, each model
right at a configured rate, so the report's figures can be held against known truths."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from orchestra.cli import main
from orchestra.config import get_settings

#: the configured accuracies (ORCHESTRA_SIMULATOR_ACCURACY), far apart
TRUE = {"sim-large": 0.9, "sim-medium": 0.7, "sim-small": 0.5}
ITEMS = 120


@pytest.fixture(scope="module")
def summary(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, object]]:
    out = tmp_path_factory.mktemp("eval")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("ORCHESTRA_SIMULATOR", "true")
        env.setenv("ORCHESTRA_SIMULATOR_LATENCY_SCALE", "0")
        env.setenv("ORCHESTRA_SIMULATOR_ACCURACY", ",".join(f"{m}={a}" for m, a in TRUE.items()))
        get_settings.cache_clear()
        args = ["eval", "--dataset", "gsm8k", "--limit", str(ITEMS), "--out", str(out)]
        for model in TRUE:
            args += ["--strategy", model]
        args += ["--strategy", "panel(sim-large, sim-medium, sim-small, fusion=vote)"]
        assert main(args) == 0
    get_settings.cache_clear()
    yield json.loads((out / "summary.json").read_text())


def test_each_models_measured_accuracy_is_inside_its_interval_around_the_truth(
    summary: dict[str, object],
) -> None:
    rows = {row["spec"]: row for row in summary["strategies"]}  # type: ignore[attr-defined]
    for model, truth in TRUE.items():
        row = rows[model]
        # Given 120 items answered, When the report gives a Wilson 95% interval,
        # Then it holds the configured accuracy, and the point estimate is near it
        assert row["n"] == ITEMS and row["errors"] == 0
        assert row["ci_low"] <= truth <= row["ci_high"], (model, row["accuracy"])
        assert abs(row["accuracy"] - truth) < 0.1


def test_the_baseline_is_the_best_single_model_and_the_weakest_differs_significantly(
    summary: dict[str, object],
) -> None:
    rows = {row["spec"]: row for row in summary["strategies"]}  # type: ignore[attr-defined]
    assert summary["baseline"] == "sim-large"
    # 0.9 against 0.5 on 120 paired items: McNemar's p is tiny
    assert rows["sim-small"]["paired"]["p"] < 1e-6
    panel = rows["panel(sim-large, sim-medium, sim-small, fusion=vote)"]
    # a vote of three answers whose accuracies are 0.9, 0.7 and 0.5 beats the weakest
    assert panel["accuracy"] > rows["sim-small"]["accuracy"]
    assert panel["calibration"] is not None and 0 <= panel["calibration"]["ece"] <= 1
