"""The report's header says how the figures were measured: where (in-process or the base
URL), by what (the simulator or real providers), the seed, the items of how many, when, and
the orchestra version."""

from __future__ import annotations

from orchestra.cli.eval_report import report_meta
from orchestra.evaluation.records import Dataset, Item, Manifest

ITEM = Item(id="q", kind="exact", question="?", answer="1")
DATA = Dataset(name="gsm8k", path="/x/test.jsonl", fingerprint="f" * 16, total=1319, items=[ITEM])


def manifest(**fields: object) -> Manifest:
    base: dict[str, object] = {
        "dataset": "gsm8k",
        "fingerprint": "f" * 16,
        "seed": 7,
        "created_at": 1_767_225_600.0,  # 2026-01-01 00:00 UTC
    }
    return Manifest.model_validate({**base, **fields})


def test_in_process_with_the_simulator() -> None:
    meta = report_meta(DATA, 30, manifest(simulated=True))
    assert meta["items"] == (
        "30 answered by every strategy, of the dataset's 1319 (shuffled by the seed)"
    )
    assert meta["measured"].startswith("in-process")
    assert "LOCAL SIMULATOR" in meta["measured"] and "not real models" in meta["measured"]
    assert (meta["seed"], meta["started"]) == ("7", "2026-01-01 00:00 UTC")
    assert meta["orchestra"]


def test_a_deployed_gateway_with_real_providers() -> None:
    meta = report_meta(DATA, 50, manifest(base_url="https://gw.example", simulated=False))
    assert meta["measured"] == "https://gw.example; answered by the gateway's configured providers"


def test_without_a_manifest_the_header_still_names_the_data() -> None:
    meta = report_meta(DATA, 1, None)
    assert meta["dataset"] == "gsm8k" and "measured" not in meta
