"""One GET for the source adapters, failing typed like a provider call (retryable or not)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import httpx

from orchestra.transport.http import error_for_status, error_message, map_errors, timeout_for


async def get_payload(
    client: httpx.AsyncClient,
    url: str,
    *,
    source: str,
    timeout_s: float,
    headers: Mapping[str, str] | None = None,
) -> Any:
    """The body of a 200 as JSON (or as text when it is CSV); typed ``ProviderError``s
    otherwise (``retryable`` for 429, 5xx, timeouts and broken connections)."""
    with map_errors(source, url):
        response = await client.get(
            url, headers=dict(headers or {}), timeout=timeout_for(timeout_s, 5.0)
        )
        body = response.content
        if response.status_code != 200:
            message = error_message(_json_or_none(body), response.reason_phrase)
            raise error_for_status(response.status_code, message, provider=source, model=url)
        if "csv" in response.headers.get("content-type", "") or url.endswith(".csv"):
            return body.decode("utf-8", "replace")
        return json.loads(body)


def _json_or_none(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return None
