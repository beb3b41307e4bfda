"""A whole sync over a real HTTP exchange (httpx MockTransport) and an in-memory table:
what is written, what a failure leaves behind (nothing), and how rankings move."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from orchestra.catalog.models import Catalog, load_snapshot
from orchestra.catalog.source import CatalogSource
from orchestra.errors import StorageError, SyncFailed
from orchestra.storage.memory import MemoryCatalogBackend
from orchestra.sync.huggingface import HuggingFaceSource
from orchestra.sync.lmarena import LMArenaSource
from orchestra.sync.openrouter import OpenRouterSource
from orchestra.sync.service import SyncService
from orchestra.transport.http import HttpClients

Responder = Callable[[httpx.Request], httpx.Response]


class FailingTable(MemoryCatalogBackend):
    def __init__(self, *, fail_reads: bool = False, fail_writes_after: int | None = None) -> None:
        super().__init__()
        self.fail_reads = fail_reads
        self.fail_writes_after = fail_writes_after
        self.writes = 0

    async def load_all(self) -> list[dict[str, Any]]:
        if self.fail_reads:
            raise StorageError("table unreadable")
        return await super().load_all()

    async def upsert(self, model_id: str, fields: dict[str, Any]) -> None:
        if self.fail_writes_after is not None and self.writes >= self.fail_writes_after:
            raise StorageError("throttled")
        self.writes += 1
        await super().upsert(model_id, fields)


def _curated() -> Catalog:
    """The bundled models as first curated: no synced provenance, no Hub repositories."""
    return Catalog(
        m.model_copy(update={"provenance": {}, "hf_repo": None}) for m in load_snapshot()
    )


def _service(respond: Responder, table: MemoryCatalogBackend | None = None) -> SyncService:
    table = table if table is not None else MemoryCatalogBackend()
    adapters = [
        OpenRouterSource("https://openrouter.test/api/v1/models", timeout_s=5),
        LMArenaSource("https://arena.test/leaderboard-text.json", timeout_s=5),
        HuggingFaceSource("https://hub.test", token="hf_secret_token_123", timeout_s=5),
    ]
    return SyncService(
        CatalogSource(base=_curated(), table=table, cache_s=0),
        table,
        {a.name: a for a in adapters},
        HttpClients.with_transport(httpx.MockTransport(respond)),
    )


def _serving(payloads: dict[str, Any]) -> Responder:
    def respond(request: httpx.Request) -> httpx.Response:
        for host, payload in payloads.items():
            if request.url.host == host:
                return httpx.Response(200, json=payload)
        return httpx.Response(404, json={"error": "not found"})

    return respond


async def test_a_sync_writes_fields_with_provenance_and_a_rerun_changes_nothing(
    recorded: Any,
) -> None:
    # Given the recorded OpenRouter listing behind the OpenRouter URL
    table = MemoryCatalogBackend()
    service = _service(
        _serving({"openrouter.test": recorded.json("openrouter/models_full.json")}), table
    )
    # When it syncs
    report = await service.run("openrouter")
    # Then the matched models are written with their provenance
    items = {i["model_id"]: i for i in await table.load_all()}
    assert report.records == 371 and report.matched == 24
    # (the two Bedrock models match, but OpenRouter's prices are not Bedrock's)
    assert len(items) == report.models_written == 22
    assert "bedrock/amazon.nova-pro-v1:0.input_price" in {h.ref for h in report.held}
    assert items["openai/gpt-4o"]["input_price"] == 2.5e-06
    assert items["openai/gpt-4o"]["source:input_price"]["source"] == "openrouter"
    assert items["openai/gpt-4o"]["source:input_price"]["ref"] == "openai/gpt-4o"
    assert report.origin == "https://openrouter.test/api/v1/models"
    assert any(c.model_id == "openrouter/qwen/qwen-2.5-72b-instruct" for c in report.changes)
    # Anthropic's own window is not OpenRouter's (1M with a beta Orchestra does not send)
    assert items["anthropic/claude-sonnet-4-5"].get("context_window") is None
    assert "ai21/jamba-large-1.7" in report.unmatched
    # And the same data again changes no value
    again = await service.run("openrouter")
    assert again.changes == [] and again.models_written == report.models_written
    await service.aclose()


@pytest.mark.parametrize(
    ("response", "retryable"),
    [
        (httpx.Response(503, json={"error": {"message": "down"}}), True),
        (httpx.Response(429, headers={"retry-after": "30"}), True),
        (httpx.Response(404, json={"error": "gone"}), False),
        (httpx.Response(200, content=b"<html>captive portal</html>"), True),
        (httpx.Response(200, json={"unexpected": "shape"}), False),
        (httpx.Response(200, json={"data": []}), False),
    ],
)
async def test_a_failed_fetch_keeps_the_previous_catalog(
    recorded: Any, response: httpx.Response, retryable: bool
) -> None:
    # Given a table holding a good sync
    table = MemoryCatalogBackend()
    good = _service(
        _serving({"arena.test": recorded.json("leaderboards/lmarena_text_full_category.json")}),
        table,
    )
    await good.run("lmarena")
    before = await table.load_all()
    # When the next fetch fails
    failing = _service(lambda request: response, table)
    with pytest.raises(SyncFailed) as failed:
        await failing.run("lmarena")
    # Then it says so, typed, and the table is exactly as it was
    assert failed.value.source == "lmarena"
    assert failed.value.retryable is retryable
    assert await table.load_all() == before


async def test_a_transport_failure_and_a_timeout_are_retryable() -> None:
    def broken(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    with pytest.raises(SyncFailed) as failed:
        await _service(broken).run("openrouter")
    assert failed.value.retryable and "could not connect to openrouter" in failed.value.message

    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    with pytest.raises(SyncFailed) as timed_out:
        await _service(slow).run("openrouter")
    assert timed_out.value.retryable


async def test_an_unreadable_table_fails_before_anything_is_fetched(recorded: Any) -> None:
    calls: list[str] = []

    def respond(request: httpx.Request) -> httpx.Response:
        calls.append(str(request.url))
        return httpx.Response(200, json=recorded.json("openrouter/models_full.json"))

    with pytest.raises(SyncFailed) as failed:
        await _service(respond, FailingTable(fail_reads=True)).run("openrouter")
    assert failed.value.retryable and calls == []


async def test_a_write_cut_short_is_retryable_and_the_rerun_completes_it(recorded: Any) -> None:
    table = FailingTable(fail_writes_after=5)
    payloads = {"openrouter.test": recorded.json("openrouter/models_full.json")}
    with pytest.raises(SyncFailed) as failed:
        await _service(_serving(payloads), table).run("openrouter")
    assert failed.value.retryable
    table.fail_writes_after = None
    report = await _service(_serving(payloads), table).run("openrouter")
    assert len(await table.load_all()) == report.models_written == 22


async def test_unknown_source() -> None:
    with pytest.raises(SyncFailed, match="unknown catalog source 'nope'"):
        await _service(_serving({})).run("nope")


async def test_huggingface_asks_the_hub_for_each_open_model_with_the_token(recorded: Any) -> None:
    # Given the catalog knows the Hub repositories of its open models (from OpenRouter)
    info = recorded.json("huggingface/hub_api_model_info_inference_providers.json")
    seen: list[httpx.Request] = []

    def hub(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.host == "openrouter.test":
            return httpx.Response(200, json=recorded.json("openrouter/models_full.json"))
        path = request.url.path
        if path == "/api/models/meta-llama/Meta-Llama-3.1-8B-Instruct":
            return httpx.Response(200, json=info)
        if path.endswith("/config.json") and "Qwen" in path:
            return httpx.Response(200, json={"max_position_embeddings": 32768})
        if path.endswith("/config.json"):
            return httpx.Response(401, json={"error": "Access to model is restricted"})
        if path.startswith("/api/models/"):
            repo = path.removeprefix("/api/models/")
            return httpx.Response(200, json={"id": repo, "pipeline_tag": "text-generation"})
        return httpx.Response(404)

    table = MemoryCatalogBackend()
    service = _service(hub, table)
    await service.run("openrouter")
    seen.clear()
    report = await service.run("huggingface")
    # Then each repository is asked for, with expand[] parameters and the token
    infos = [r for r in seen if r.url.path.startswith("/api/models/")]
    assert {r.url.path.removeprefix("/api/models/") for r in infos} == {
        "meta-llama/Meta-Llama-3.1-8B-Instruct",
        "meta-llama/Llama-3.3-70B-Instruct",
        "deepseek-ai/DeepSeek-V3",
        "deepseek-ai/DeepSeek-R1",
        "Qwen/Qwen2.5-72B-Instruct",
    }
    assert infos[0].url.params.get_list("expand[]") == ["inferenceProviderMapping", "pipeline_tag"]
    assert all(r.headers["authorization"] == "Bearer hf_secret_token_123" for r in seen)
    # And the Hub's canonical repo name replaces OpenRouter's, gated configs are reported,
    # and the native window only fills where no host-specific window is known
    items = {i["model_id"]: i for i in await table.load_all()}
    assert items["groq/llama-3.1-8b-instant"]["hf_repo"] == "meta-llama/Llama-3.1-8B-Instruct"
    assert "context_window: huggingface refused Orchestra's credentials (401)" in {
        s.reason for s in report.skipped
    }
    qwen = items["openrouter/qwen/qwen-2.5-72b-instruct"]
    assert qwen["source:context_window"]["source"] == "openrouter"
    assert any("kept openrouter's value" in h.reason for h in report.held)
    assert "hf_secret_token_123" not in json.dumps(report.summary())


async def test_budget_and_quality_rankings_move_the_way_the_new_data_says(
    recorded: Any,
) -> None:
    # Given recorded data in which Claude 3.5 Haiku becomes the cheapest and best-rated model
    listing = copy.deepcopy(recorded.json("openrouter/models_full.json"))
    for row in listing["data"]:
        if row["id"] == "anthropic/claude-3.5-haiku":
            row["pricing"].update(prompt="0.00000001", completion="0.00000002")
    board = copy.deepcopy(recorded.json("leaderboards/lmarena_text_full_category.json"))
    board["full"]["claude-3-5-haiku-20241022"]["rating"] = 1550.0
    service = _service(_serving({"openrouter.test": listing, "arena.test": board}))
    # When both sources sync
    priced = await service.run("openrouter")
    rated = await service.run("lmarena")
    # Then the budget ranking puts it first after the price sync, quality after the rating
    assert priced.rankings["budget"]["after"][0] == "anthropic/claude-3-5-haiku"
    assert priced.rankings["budget"]["before"][0] != "anthropic/claude-3-5-haiku"
    assert rated.rankings["quality"]["after"][0] == "anthropic/claude-3-5-haiku"
    assert rated.summary()["rankings"] == rated.rankings
