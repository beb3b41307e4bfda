"""``settle_heap``: in a fresh interpreter each (freezing the test session's heap would keep
every later test's garbage)."""

from __future__ import annotations

import json
import subprocess
import sys

CHECK = """
import gc, json
from orchestra.compose.heap import settle_heap
gc.set_threshold(700, 10, 10)
settle_heap({enabled})
print(json.dumps({{"frozen": gc.get_freeze_count(), "threshold": gc.get_threshold()}}))
"""


def _run(enabled: bool) -> dict[str, object]:
    code = CHECK.format(enabled=enabled)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    result: dict[str, object] = json.loads(out.stdout)
    return result


def test_settling_freezes_the_heap_and_makes_collections_rarer() -> None:
    result = _run(True)
    assert isinstance(result["frozen"], int) and result["frozen"] > 1_000
    assert result["threshold"] == [7_000, 20, 20]


def test_turned_off_it_leaves_the_collector_alone() -> None:
    assert _run(False) == {"frozen": 0, "threshold": [700, 10, 10]}
