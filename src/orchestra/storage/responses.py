"""OpenAI Responses answers kept for ``previous_response_id`` and ``GET /v1/responses/{id}``:
one JSON record per response id over a :class:`ResponseBackend`, expiring after
``ttl_days`` (30 by default, like OpenAI's own retention)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pydantic_core

from orchestra.errors import StorageError
from orchestra.storage.protocols import ResponseBackend

DEFAULT_TTL_DAYS = 30


class ResponseStore:
    def __init__(
        self,
        backend: ResponseBackend,
        *,
        ttl_days: int = DEFAULT_TTL_DAYS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.backend = backend
        self.ttl_days = ttl_days
        self._clock = clock

    async def save(self, response_id: str, record: dict[str, Any]) -> None:
        expires_at = int(self._clock() + self.ttl_days * 86_400)
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
