"""Bundled datasets by name on both sides: ``--dataset gsm8k`` and the serving gateway's
``ORCHESTRA_SIMULATOR_ORACLE=gsm8k`` read the same file; a directory given as a dataset is
named as such."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestra.compose.core import _oracle_options
from orchestra.config import Settings
from orchestra.evaluation.datasets import DatasetError, bundled_path, load


def test_bundled_path_names_the_shipped_file() -> None:
    path = bundled_path("gsm8k")
    assert path is not None and path.is_file() and path.name == "test.jsonl"
    assert bundled_path("no-such-set") is None
    assert load("gsm8k", limit=1).path == str(path)


def test_the_oracle_setting_takes_a_bundled_name_or_a_path(tmp_path: Path) -> None:
    named = _oracle_options(Settings(simulator_oracle="gsm8k"))
    assert named == {"oracle": str(bundled_path("gsm8k"))}
    own = str(tmp_path / "mine.jsonl")
    assert _oracle_options(Settings(simulator_oracle=own)) == {"oracle": own}


def test_a_directory_is_not_a_dataset(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="a directory, not a JSONL file"):
        load(str(tmp_path))
