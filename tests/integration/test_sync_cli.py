"""``orchestra sync``: the recorded payloads into a copy of the bundled snapshot, which then
routes; and ``GET /v1/models`` shows where each synced field came from."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from orchestra.catalog.models import Catalog, catalog_from_records
from orchestra.cli import main
from orchestra.sync.snapshot import bundled_path


@pytest.fixture
def snapshot(tmp_path: Path) -> Path:
    path = tmp_path / "snapshot.json"
    shutil.copy(bundled_path(), path)
    return path


def _catalog(path: Path) -> Catalog:
    return catalog_from_records(json.loads(path.read_text())["models"])


def test_sync_from_recorded_files_regenerates_the_snapshot(
    recorded: Any, snapshot: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = _catalog(snapshot)
    # When each source is synced from its recorded payload
    for source, name in (
        ("openrouter", "openrouter/models_full.json"),
        ("lmarena", "leaderboards/lmarena_text_full_category.json"),
        ("huggingface", "huggingface/hub_api_model_info_inference_providers.json"),
    ):
        args = ["sync", "--source", source, "--from-file", str(recorded.path(name))]
        assert main([*args, "--snapshot", str(snapshot)]) == 0
    out = capsys.readouterr()
    # Then the snapshot holds the same models, with synced values and their provenance
    after = _catalog(snapshot)
    assert [m.id for m in after] == [m.id for m in before]
    gpt4o = after.get("openai/gpt-4o")
    assert gpt4o.provenance["quality"].source == "lmarena"
    assert gpt4o.provenance["quality"].ref == "gpt-4o-2024-08-06"
    assert gpt4o.provenance["input_price"].source == "openrouter"
    llama = after.get("groq/llama-3.1-8b-instant")
    assert llama.hf_repo == "meta-llama/Llama-3.1-8B-Instruct"
    assert llama.provenance["hf_repo"].source == "huggingface"
    document = json.loads(snapshot.read_text())
    assert set(document["sources"]) >= {"openrouter", "lmarena", "huggingface"}
    assert "openrouter: 371 records, 24 matched" in out.out
    assert "skipped 3 x input_price: decided per request ('-1')" in out.out
    assert f"wrote {snapshot}" in out.err


def test_dry_run_and_errors_leave_the_snapshot_alone(
    recorded: Any, snapshot: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    original = snapshot.read_bytes()
    board = str(recorded.path("leaderboards/lmarena_text_full_category.json"))
    csv = str(recorded.path("leaderboards/lmsys_leaderboard_table_with_pricing.csv"))
    base = ["sync", "--snapshot", str(snapshot)]
    assert main([*base, "--source", "lmarena", "--from-file", board, "--dry-run"]) == 0
    assert main([*base, "--source", "lmarena", "--from-file", csv]) == 1
    assert main([*base, "--from-file", board]) == 2
    assert main([*base, "--source", "lmarena", "--from-file", str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err
    assert "the CSV has no rating column: expected one of rating, " in err
    assert "--from-file needs exactly one --source" in err
    assert "cannot read" in err
    assert snapshot.read_bytes() == original


def test_another_leaderboard_is_refused_and_the_quality_scores_stay(
    recorded: Any, snapshot: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given the vision leaderboard (same shape as the text one, its own categories)
    full = recorded.json("leaderboards/lmarena_text_full_category.json")["full"]
    rows = {name: {**row, "rating": row["rating"] - 200} for name, row in full.items()}
    vision = tmp_path / "board.json"
    vision.write_text(json.dumps({"full": rows, "ocr": rows, "captioning": rows}))
    original = snapshot.read_bytes()
    # When it is synced as LMArena's leaderboard
    code = main(
        ["sync", "--source", "lmarena", "--from-file", str(vision), "--snapshot", str(snapshot)]
    )
    # Then it is refused, saying why, and no quality score moved
    assert code == 1
    assert "is the LMArena vision leaderboard" in capsys.readouterr().err
    assert snapshot.read_bytes() == original


def test_json_report(recorded: Any, snapshot: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = str(recorded.path("leaderboards/lmarena_text_full_category.json"))
    args = ["sync", "--source", "lmarena", "--from-file", path, "--snapshot", str(snapshot)]
    assert main([*args, "--json", "--dry-run"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["source"] == "lmarena" and report["records"] == 282


def test_models_endpoint_shows_where_synced_fields_came_from(recorded: Any) -> None:
    from orchestra.api.app import create_app
    from orchestra.catalog.source import CatalogSource, overlay
    from orchestra.compose import build_services
    from orchestra.config import Settings

    # Given a catalog whose gpt-4o rating came from the arena
    services = build_services(Settings(), {"OPENAI_API_KEY": "sk-test-not-real"})
    base = services.gateway.catalog.cached
    synced = {
        "model_id": "openai/gpt-4o",
        "quality": 1290.0,
        "source:quality": {
            "source": "lmarena",
            "ref": "gpt-4o-2024-08-06",
            "at": "t",
            "match": 100,
        },
    }
    services.catalog = CatalogSource(base=overlay(base, [synced]))
    with TestClient(create_app(services)) as client:
        data = client.get("/v1/models").json()["data"]
    entry = next(m for m in data if m["id"] == "openai/gpt-4o")
    assert entry["quality"] == 1290.0
    assert entry["provenance"]["quality"]["ref"] == "gpt-4o-2024-08-06"
