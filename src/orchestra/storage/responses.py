"""OpenAI Responses answers kept for ``previous_response_id`` and ``GET /v1/responses/{id}``:
one JSON record per response id over a :class:`ResponseBackend`, expiring after
``ttl_days`` (30 by default, like OpenAI's own retention)."""

from __future__ import annotations

from typing import Any

import pydantic_core

from orchestra.errors import StorageError
from orchestra.storage.expiry import ExpiringStore
from orchestra.storage.protocols import ResponseBackend


class ResponseStore(ExpiringStore[ResponseBackend]):
    async def save(self, response_id: str, record: dict[str, Any]) -> None:
        expires_at = self._expires()
        await self.backend.put(response_id, pydantic_core.to_json(record).decode(), expires_at)

    async def load(self, response_id: str) -> dict[str, Any] | None:
        doc = await self.backend.get(response_id)
        if doc is None:
            return None
        try:
            record = pydantic_core.from_json(doc)
        except ValueError as exc:
            raise StorageError(f"stored response {response_id} is not JSON") from exc
        if not isinstance(record, dict):
            raise StorageError(f"stored response {response_id} is not a JSON object")
        return record
