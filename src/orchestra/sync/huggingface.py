"""The Hugging Face Hub: what the open-weights models in the catalog are, natively.

For each repository the catalog names (``hf_repo``, learnt from OpenRouter's
``hugging_face_id`` or set in the snapshot), two public GETs:

- ``/api/models/{repo}?expand[]=inferenceProviderMapping&expand[]=pipeline_tag``: the
  task, and which inference providers serve it under which name (Groq's
  ``llama-3.1-8b-instant`` is ``meta-llama/Llama-3.1-8B-Instruct``): more names for the
  resolver. The mapping is an object keyed by provider, or (newer Hub) a list of entries;
- ``/{repo}/resolve/main/config.json``: ``max_position_embeddings``, the native context
  window. Gated repositories (Meta's) refuse it without a token that accepted the licence;
  that is reported as skipped, not as a failure.

The window is the model's own: hosts may serve less, so it only fills a window no host-
specific source (OpenRouter) has given. An ``HF_TOKEN`` among the provider keys is sent.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import httpx

from orchestra.catalog.models import Catalog
from orchestra.errors import ProviderError
from orchestra.sync.fetch import get_payload
from orchestra.sync.records import Batch, SourceRecord
from orchestra.sync.values import as_dict, as_list, as_positive_int

CHAT_TASKS = frozenset({"text-generation", "image-text-to-text", "conversational"})
WINDOW_KEYS = ("max_position_embeddings", "max_seq_len", "max_sequence_length", "n_positions")
WINDOW_RANGE = (512, 20_000_000)
CONCURRENCY = 4


class HuggingFaceSource:
    name = "huggingface"

    def __init__(self, url: str, *, token: str | None = None, timeout_s: float = 30.0) -> None:
        self.url = url.rstrip("/")
        self._headers = {"authorization": f"Bearer {token}"} if token else {}
        self.timeout_s = timeout_s

    async def fetch(self, client: httpx.AsyncClient, catalog: Catalog) -> Any:
        repos = sorted({m.hf_repo for m in catalog if m.hf_repo})
        gate = asyncio.Semaphore(CONCURRENCY)

        async def one(repo: str) -> dict[str, Any]:
            async with gate:
                return await self._repo(client, repo)

        return {"models": list(await asyncio.gather(*(one(r) for r in repos)))}

    async def _repo(self, client: httpx.AsyncClient, repo: str) -> dict[str, Any]:
        path = quote(repo, safe="/")
        info_url = (
            f"{self.url}/api/models/{path}?expand[]=inferenceProviderMapping&expand[]=pipeline_tag"
        )
        try:
            info = await self._get(client, info_url)
        except ProviderError as exc:
            return {"repo": repo, "error": f"model info: {exc.message}"}
        try:
            config = await self._get(client, f"{self.url}/{path}/resolve/main/config.json")
        except ProviderError as exc:
            return {"repo": repo, "info": info, "config_error": exc.message}
        return {"repo": repo, "info": info, "config": config}

    async def _get(self, client: httpx.AsyncClient, url: str) -> Any:
        return await get_payload(
            client, url, source=self.name, timeout_s=self.timeout_s, headers=self._headers
        )

    def parse(self, payload: Any, origin: str) -> Batch:
        """``{"models": [{"repo", "info", "config"}...]}``, or one bare model-info object
        (as the Hub returns it), or a list of them."""
        entries = _entries(payload)
        batch = Batch(self.name, origin, empty_ok=not entries)
        for entry in entries:
            info = as_dict(entry.get("info", entry if "id" in entry else None))
            repo = info.get("id") or entry.get("repo")
            if not isinstance(repo, str) or not repo:
                batch.skip(repr(entry)[:60], "no repository id")
            elif not info:
                if entry.get("error"):
                    batch.failed_fetches += 1
                batch.skip(repo, str(entry.get("error") or "no model info"))
            elif (task := info.get("pipeline_tag")) and task not in CHAT_TASKS:
                batch.skip(repo, f"not a chat model (pipeline_tag {task})")
            else:
                batch.records.append(_record(self.name, repo, info, entry, batch))
        return batch


def _entries(payload: Any) -> list[dict[str, Any]]:
    if isinstance(payload, dict) and isinstance(payload.get("models"), list):
        payload = payload["models"]
    if isinstance(payload, dict):
        payload = [payload]
    if not isinstance(payload, list):
        raise ValueError("expected Hub model info: an object, a list, or {'models': [...]}")
    return [e for e in payload if isinstance(e, dict)]


def _record(
    source: str, repo: str, info: dict[str, Any], entry: dict[str, Any], batch: Batch
) -> SourceRecord:
    fields: dict[str, Any] = {"hf_repo": repo}
    window = native_window(as_dict(entry.get("config")))
    if window is not None:
        fields["context_window"] = window
    else:
        fetched = "config" in entry
        why = entry.get("config_error") or (
            "no window in config.json" if fetched else "config.json not in the payload"
        )
        batch.skip(repo, f"context_window: {why}")
    return SourceRecord(source, repo, fields, tuple(provider_names(info)))


def provider_names(info: Mapping[str, Any]) -> list[str]:
    """The names live inference providers serve the model under."""
    mapping = info.get("inferenceProviderMapping")
    if isinstance(mapping, dict):
        entries = [as_dict(v) for v in mapping.values()]
    else:
        entries = [as_dict(v) for v in as_list(mapping)]
    names = [e.get("providerId") for e in entries if e.get("status", "live") == "live"]
    return list(dict.fromkeys(n for n in names if isinstance(n, str) and n))


def native_window(config: Mapping[str, Any]) -> int | None:
    """The context window in a ``config.json`` (multimodal configs nest it in text_config)."""
    for scope in (config, as_dict(config.get("text_config"))):
        for key in WINDOW_KEYS:
            window = as_positive_int(scope.get(key))
            if window is not None and WINDOW_RANGE[0] <= window <= WINDOW_RANGE[1]:
                return window
    return None
