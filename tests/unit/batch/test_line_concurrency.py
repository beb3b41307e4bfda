"""``batch_line_concurrency`` bounds the lines in flight inside one chunk, apart from
``batch_concurrency`` (chunks at once: the Map's MaxConcurrency, the local runner's gate)."""

from __future__ import annotations

import pytest

from orchestra.compose.batches import build_batch_steps
from orchestra.compose.core import memory_stores
from orchestra.config import Settings

from support.workflow_stores import memory_workflow_stores


def _steps(**settings: object) -> object:
    stores = memory_stores()
    stores.records, stores.blobs = memory_workflow_stores()
    built = build_batch_steps(Settings(**settings), {}, stores=stores)  # type: ignore[arg-type]
    return built.batch_steps


def test_lines_in_flight_are_their_own_setting_defaulting_to_eight() -> None:
    assert Settings().batch_line_concurrency == 8
    steps = _steps(batch_concurrency=3, batch_line_concurrency=20)
    assert steps.processor.concurrency == 20  # type: ignore[attr-defined]


def test_the_setting_reads_its_environment_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORCHESTRA_BATCH_LINE_CONCURRENCY", "32")
    assert Settings().batch_line_concurrency == 32
