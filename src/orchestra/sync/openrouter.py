"""OpenRouter's models API (``GET /api/v1/models``): prices, windows, limits, capabilities.

Prices are strings of USD per token (``"0.0000025"``), the prompt cache's reads and writes
among them (``input_cache_read``, ``input_cache_write``); ``"-1"`` means "decided per
request" (``openrouter/auto``) and is skipped. ``top_provider`` is the endpoint OpenRouter
routes to first, so its window and output limit are what a request can rely on. A model
listed under its maker's prefix (``openai/``, ``anthropic/``, ``google/``...) is priced as
the maker prices it, so those fields also describe the maker's own API.
"""

from __future__ import annotations

from typing import Any

import httpx

from orchestra.catalog.models import Catalog
from orchestra.sync.fetch import get_payload
from orchestra.sync.records import Batch, SourceRecord
from orchestra.sync.values import as_dict, as_list, as_number, as_positive_int

#: OpenRouter's maker prefix -> the Orchestra provider that is that maker's own API
FIRST_PARTY = {
    "openai": "openai",
    "anthropic": "anthropic",
    "google": "gemini",
    "mistralai": "mistral",
    "deepseek": "deepseek",
}
#: catalog field -> key of the row's ``pricing``; the cache prices (USD per prompt token read
#: from / written to the prompt cache) are listed only for models whose hosts cache, and a
#: model without them is priced by its family's published multiples (``catalog/pricing.py``)
PRICE_KEYS = (
    ("input_price", "prompt"),
    ("output_price", "completion"),
    ("cache_read_price", "input_cache_read"),
    ("cache_write_price", "input_cache_write"),
)
MAX_PRICE = 0.01  # USD per token; above this a value is a unit mix-up (per image, per call)
JSON_PARAMETERS = frozenset({"response_format", "structured_outputs"})


class OpenRouterSource:
    name = "openrouter"

    def __init__(self, url: str, *, timeout_s: float = 30.0) -> None:
        self.url = url
        self.timeout_s = timeout_s

    async def fetch(self, client: httpx.AsyncClient, catalog: Catalog) -> Any:
        return await get_payload(client, self.url, source=self.name, timeout_s=self.timeout_s)

    def parse(self, payload: Any, origin: str) -> Batch:
        rows = payload.get("data") if isinstance(payload, dict) else payload
        if not isinstance(rows, list):
            raise ValueError("expected an OpenRouter models list: {'data': [...]}")
        batch = Batch(self.name, origin)
        for row in rows:
            ref = row.get("id") if isinstance(row, dict) else None
            if not isinstance(ref, str) or not ref:
                batch.skip(repr(row)[:60], "no model id")
                continue
            outputs = as_dict(row.get("architecture")).get("output_modalities", ["text"])
            if "text" not in as_list(outputs):
                batch.skip(ref, "does not answer in text")
                continue
            fields = self._fields(row, ref, batch)
            if fields:
                batch.records.append(self._record(row, ref, fields))
            else:
                batch.skip(ref, "no usable field")
        return batch

    def _record(self, row: dict[str, Any], ref: str, fields: dict[str, Any]) -> SourceRecord:
        names = tuple(n for n in (row.get("canonical_slug"),) if isinstance(n, str) and n)
        hosts = {"openrouter"}
        if maker := FIRST_PARTY.get(ref.split("/", 1)[0]):
            hosts.add(maker)
        return SourceRecord(self.name, ref, fields, names, frozenset(hosts))

    def _fields(self, row: dict[str, Any], ref: str, batch: Batch) -> dict[str, Any]:
        fields: dict[str, Any] = {}
        pricing = as_dict(row.get("pricing"))
        for field, key in PRICE_KEYS:
            price = as_number(pricing.get(key))
            if price is None:
                if key in ("prompt", "completion"):  # cache prices are optional
                    batch.skip(ref, f"{field}: no pricing.{key}")
            elif price < 0:
                batch.skip(ref, f"{field}: decided per request ({pricing.get(key)!r})")
            elif price > MAX_PRICE:
                batch.skip(ref, f"{field}: {pricing.get(key)!r} is not a per-token price")
            else:
                fields[field] = price
        top = as_dict(row.get("top_provider"))
        window = as_positive_int(top.get("context_length")) or as_positive_int(
            row.get("context_length")
        )
        if window:
            fields["context_window"] = window
        if limit := as_positive_int(top.get("max_completion_tokens")):
            fields["max_output_tokens"] = min(limit, window) if window else limit
        if isinstance(row.get("supported_parameters"), list):
            fields["capabilities"] = _capabilities(row)
        if isinstance(repo := row.get("hugging_face_id"), str) and "/" in repo:
            fields["hf_repo"] = repo
        return fields


def _capabilities(row: dict[str, Any]) -> list[str]:
    params = set(as_list(row.get("supported_parameters")))
    inputs = set(as_list(as_dict(row.get("architecture")).get("input_modalities")))
    found = {"streaming"}
    if "tools" in params:
        found.add("tools")
    if params & JSON_PARAMETERS:
        found.add("json")
    if "image" in inputs:
        found.add("vision")
    return sorted(found)
