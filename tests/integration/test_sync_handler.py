"""``functions/sync/handler.py`` with the sample schedule events, under moto.

AWS mode end to end: the models table built from the shared specs, the provider keys in
Secrets Manager, and the three sources served over real HTTP on 127.0.0.1 from their
recorded payloads. Then the generate function's ``/v1/models/rankings`` reads the synced
table: the rankings move the way the synced data says they should.
"""

from __future__ import annotations

import copy
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from support.lambda_api import (
    Context,
    body_of,
    close_apps,
    deployed,
    import_handler,
    load_handler,
    sample_event,
)
from support.upstream import FakeUpstream, Reply, running_in_thread

ROOT = Path(__file__).resolve().parents[2]
EVENTS = ROOT / "events" / "sync"
HF_TOKEN = "hf_sync_secret_0a1b2c3d4e"
#: every well-known provider configured, so rankings cover the whole catalog
PROVIDER_KEYS = {
    name: f"key-{i}-not-real"
    for i, name in enumerate(
        ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY", "GROQ_API_KEY")
    )
} | {"OPENROUTER_API_KEY": "key-or-not-real", "HF_TOKEN": HF_TOKEN}


class Sources:
    """OpenRouter, LMArena and the Hub on one fake server, payloads swappable per test."""

    def __init__(self, recorded: Any) -> None:
        self.openrouter = copy.deepcopy(recorded.json("openrouter/models_full.json"))
        self.arena = copy.deepcopy(recorded.json("leaderboards/lmarena_text_full_category.json"))
        self.hub_info = recorded.json("huggingface/hub_api_model_info_inference_providers.json")
        self.failing: Reply | None = None

    def reply(self, request: dict[str, Any]) -> Reply:
        path = request["path"]
        if self.failing is not None:
            return self.failing
        if path == "/api/v1/models":
            return Reply.json(self.openrouter)
        if path == "/arena/leaderboard-text.json":
            return Reply.json(self.arena)
        if path.startswith("/hub/api/models/"):
            repo = path.removeprefix("/hub/api/models/")
            if repo.lower() == self.hub_info["id"].lower():  # the recorded one, renamed
                return Reply.json(self.hub_info)
            return Reply.json({"id": repo, "pipeline_tag": "text-generation"})
        if path.endswith("/resolve/main/config.json"):
            return Reply.json({"max_position_embeddings": 131072})
        return Reply.json({"error": "not found"}, status=404)


@pytest.fixture
def sources(recorded: Any) -> Iterator[tuple[Sources, FakeUpstream]]:
    state = Sources(recorded)
    with running_in_thread(FakeUpstream(responder=state.reply)) as fake:
        yield state, fake


@pytest.fixture
def aws(
    tmp_path: Path, sources: tuple[Sources, FakeUpstream], monkeypatch: pytest.MonkeyPatch
) -> Iterator[Any]:
    _, fake = sources
    config = tmp_path / "orchestra.yaml"
    config.write_text("providers: []\n")
    with deployed(monkeypatch, config, PROVIDER_KEYS) as dynamodb:
        monkeypatch.setenv("ORCHESTRA_SYNC_OPENROUTER_URL", f"{fake.base_url}/api/v1/models")
        monkeypatch.setenv(
            "ORCHESTRA_SYNC_LMARENA_URL", f"{fake.base_url}/arena/leaderboard-text.json"
        )
        monkeypatch.setenv("ORCHESTRA_SYNC_HUGGINGFACE_URL", f"{fake.base_url}/hub")
        monkeypatch.setenv("ORCHESTRA_CATALOG_CACHE_S", "0")
        yield dynamodb
    close_apps()


@pytest.fixture
def sync() -> Iterator[Any]:
    module = import_handler("sync", "sync_handler_under_test")
    module.logs = io.StringIO()  # the Powertools handler (orchestra's loggers share it)
    module.function.logger.registered_handler.stream = module.logs
    yield module
    module.function.close()


def _items(dynamodb: Any) -> dict[str, dict[str, Any]]:
    from orchestra.storage.dynamodb import from_item

    items = dynamodb.scan(TableName="orch-models")["Items"]
    return {item["model_id"]["S"]: from_item(item) for item in items}


def _rankings(profile: str) -> list[str]:
    handler = load_handler("generate")
    event = sample_event("generate", "rest_v1_models_rankings.json")
    event["queryStringParameters"] = {"profile": profile}
    event["multiValueQueryStringParameters"] = {"profile": [profile]}
    response = handler.handler(event, Context())
    assert response["statusCode"] == 200, body_of(response)
    return [row["id"] for row in json.loads(body_of(response))["data"]]


def _emf(out: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.splitlines() if '"_aws"' in line]


def test_every_sample_event_names_a_source() -> None:
    names = {json.loads(p.read_text())["source"] for p in EVENTS.glob("*.json")}
    assert names == {"openrouter", "lmarena", "huggingface"}


@pytest.mark.parametrize("name", sorted(p.name for p in EVENTS.glob("*.json")))
def test_each_sample_event_syncs_its_source_into_the_table(
    capsys: Any, aws: Any, sync: Any, name: str
) -> None:
    event = json.loads((EVENTS / name).read_text())
    if event["source"] == "huggingface":  # the Hub is asked about repos OpenRouter named
        sync.handler({"source": "openrouter"}, Context("sync"))
    # When the schedule's event invokes the function
    result = sync.handler(event, Context("sync"))
    # Then its fields are in the table, each with its source and time
    assert result["source"] == event["source"] and result["models_written"] > 0
    field = {"openrouter": "input_price", "lmarena": "quality", "huggingface": "hf_repo"}[
        event["source"]
    ]
    written = [i for i in _items(aws).values() if f"source:{field}" in i]
    assert written and all(
        i[f"source:{field}"]["source"] == event["source"] and i[f"source:{field}"]["at"]
        for i in written
    )
    # And the run is counted and logged, with no key in sight
    out, logs = capsys.readouterr().out, sync.logs.getvalue()
    runs = [m for m in _emf(out) if "SyncRuns" in m]
    assert runs and runs[-1]["Source"] == event["source"]
    assert "catalog synced" in logs and HF_TOKEN not in out + logs


def test_rankings_move_the_way_the_synced_data_says(
    aws: Any, sync: Any, sources: tuple[Sources, FakeUpstream]
) -> None:
    state, _ = sources
    # Given the rankings served from the bundled snapshot
    budget_before, quality_before = _rankings("budget"), _rankings("quality")
    haiku = "anthropic/claude-3-5-haiku"
    assert budget_before[0] != haiku and quality_before[0] != haiku
    # When OpenRouter lists Claude 3.5 Haiku at a tenth of Nano's price
    for row in state.openrouter["data"]:
        if row["id"] == "anthropic/claude-3.5-haiku":
            row["pricing"].update(prompt="0.00000001", completion="0.00000004")
    sync.handler({"source": "openrouter"}, Context("sync"))
    # Then budget puts it first; quality (cost weighs 15 % there) keeps its leaders
    assert _rankings("budget")[0] == haiku
    assert _rankings("quality")[:3] == quality_before[:3]
    # When the arena rates it above every other model
    state.arena["full"]["claude-3-5-haiku-20241022"]["rating"] = 1600.0
    sync.handler({"source": "lmarena"}, Context("sync"))
    # Then quality puts it first too
    assert _rankings("quality")[0] == haiku
    # When the arena rates Gemini 2.5 Pro far below the rest
    state.arena["full"]["gemini-2.5-pro"]["rating"] = 900.0
    sync.handler({"source": "lmarena"}, Context("sync"))
    assert _rankings("quality")[-1] == "gemini/gemini-2.5-pro"


def test_a_failed_fetch_keeps_the_previous_catalog_counts_and_raises(
    capsys: Any, aws: Any, sync: Any, sources: tuple[Sources, FakeUpstream]
) -> None:
    state, _ = sources
    # Given a good sync
    sync.handler({"source": "lmarena"}, Context("sync"))
    before = _items(aws)
    quality_before = _rankings("quality")
    capsys.readouterr()
    # When the source answers 503
    state.failing = Reply.json({"error": {"message": "upstream down"}}, status=503)
    with pytest.raises(Exception) as failed:
        sync.handler({"source": "lmarena"}, Context("sync"))
    # Then the invocation fails (Lambda retries it, then the dead-letter queue gets it)
    assert type(failed.value).__name__ == "SyncFailed" and failed.value.retryable
    # And the table and the rankings are exactly as before
    assert _items(aws) == before
    assert _rankings("quality") == quality_before
    # And the failure is logged and counted
    out = capsys.readouterr().out
    assert "catalog sync failed; the catalog is unchanged" in sync.logs.getvalue()
    assert any(m.get("SyncFailures") == [1.0] or m.get("SyncFailures") == 1.0 for m in _emf(out))


def test_an_event_naming_no_known_source_fails_clearly(aws: Any, sync: Any) -> None:
    with pytest.raises(Exception, match=r"unknown catalog source 'aws\.events'"):
        sync.handler({"source": "aws.events"}, Context("sync"))
    # an EventBridge envelope carries the source in its detail
    result = sync.handler(
        {"detail-type": "Scheduled Event", "source": "aws.events", "detail": {"source": "lmarena"}},
        Context("sync"),
    )
    assert result["source"] == "lmarena"
