"""One chunk of a batch: its lines through the gateway, as OpenAI's output and error lines.

Lines of a chunk run concurrently (``concurrency`` at once); the results are written in
input order. Before each line starts the ``cancel`` flag is asked (at most every
``cancel_check_s``): once set, no further line starts and those already running finish, so a
cancelled (or expired) batch keeps every answer it paid for. A line that fails is an error line carrying
the status and OpenAI error body the endpoint would have answered with; it never fails the
chunk.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from orchestra.batch.protocols import Endpoints
from orchestra.errors import OrchestraError, error_envelope

Cancelled = Callable[[], Awaitable[bool]]


def request_id() -> str:
    return "req_" + secrets.token_hex(16)


def output_line(custom_id: str, status: int, body: dict[str, Any]) -> bytes:
    """OpenAI's batch output line (an error line has the endpoint's error status and body)."""
    line = {
        "id": "batch_req_" + secrets.token_hex(16),
        "custom_id": custom_id,
        "response": {"status_code": status, "request_id": request_id(), "body": body},
        "error": None,
    }
    return json.dumps(line, separators=(",", ":")).encode() + b"\n"


def failed_line(custom_id: str, code: str, message: str) -> bytes:
    """An error line for a request that got no response at all (its chunk failed)."""
    line = {
        "id": "batch_req_" + secrets.token_hex(16),
        "custom_id": custom_id,
        "response": None,
        "error": {"code": code, "message": message},
    }
    return json.dumps(line, separators=(",", ":")).encode() + b"\n"


def custom_ids(data: bytes) -> list[str]:
    """The chunk's custom ids, in order (the file was validated at upload)."""
    return [json.loads(raw)["custom_id"] for raw in data.split(b"\n") if raw.strip()]


#: the token counts a batch sums over its completed lines (OpenAI's ``Batch.usage``)
USAGE_KEYS = ("input_tokens", "output_tokens", "total_tokens", "cached_tokens", "reasoning_tokens")


def usage_of(body: dict[str, Any]) -> dict[str, int]:
    """A response body's token counts under the batch's names (chat and embeddings)."""
    usage = body.get("usage")
    if not isinstance(usage, dict):
        return {}
    prompt, completion = _int(usage.get("prompt_tokens")), _int(usage.get("completion_tokens"))
    cached = _int((usage.get("prompt_tokens_details") or {}).get("cached_tokens"))
    reasoning = _int((usage.get("completion_tokens_details") or {}).get("reasoning_tokens"))
    total = _int(usage.get("total_tokens")) or prompt + completion
    counts = (prompt, completion, total, cached, reasoning)
    return {k: v for k, v in zip(USAGE_KEYS, counts, strict=True) if v}


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


@dataclass
class ChunkResult:
    output: list[bytes] = field(default_factory=list)
    errors: list[bytes] = field(default_factory=list)
    #: the custom ids of the lines not started because the batch was stopped
    skipped_ids: list[str] = field(default_factory=list)
    #: tokens summed over the completed lines (:data:`USAGE_KEYS`)
    usage: dict[str, int] = field(default_factory=dict)

    @property
    def skipped(self) -> int:
        return len(self.skipped_ids)

    @property
    def completed(self) -> int:
        return len(self.output)

    @property
    def failed(self) -> int:
        return len(self.errors)


class CancelFlag:
    """The batch's cancel flag, asked at most every ``every_s`` (once set, it stays set)."""

    def __init__(self, ask: Cancelled, every_s: float) -> None:
        self.ask, self.every_s = ask, every_s
        self._set, self._asked = False, float("-inf")
        self._lock = asyncio.Lock()

    async def is_set(self) -> bool:
        async with self._lock:
            now = time.monotonic()
            if not self._set and now - self._asked >= self.every_s:
                self._set, self._asked = await self.ask(), now
            return self._set


class ChunkProcessor:
    def __init__(
        self, endpoints: Endpoints, concurrency: int = 8, cancel_check_s: float = 1.0
    ) -> None:
        self.endpoints = endpoints
        self.concurrency = concurrency
        self.cancel_check_s = cancel_check_s

    async def process(self, data: bytes, cancelled: Cancelled) -> ChunkResult:
        """Every line of ``data`` (a chunk's JSONL bytes) until the batch is cancelled."""
        lines = [raw for raw in data.split(b"\n") if raw.strip()]
        flag = CancelFlag(cancelled, self.cancel_check_s)
        gate = asyncio.Semaphore(self.concurrency)

        async def one(raw: bytes) -> tuple[bool, bytes, dict[str, int]] | None:
            async with gate:
                if await flag.is_set():
                    return None
                return await self.line(raw)

        done = await asyncio.gather(*(one(raw) for raw in lines))
        result = ChunkResult()
        for raw, item in zip(lines, done, strict=True):
            if item is None:
                result.skipped_ids.append(str(json.loads(raw)["custom_id"]))
                continue
            (result.output if item[0] else result.errors).append(item[1])
            for key, count in item[2].items():
                result.usage[key] = result.usage.get(key, 0) + count
        return result

    async def line(self, raw: bytes) -> tuple[bool, bytes, dict[str, int]]:
        """(succeeded, its output or error line, its token counts)."""
        request = json.loads(raw)
        custom_id = str(request["custom_id"])
        try:
            body = await self.endpoints.call(str(request["url"]), dict(request["body"]))
        except OrchestraError as exc:
            return False, output_line(custom_id, exc.status, exc.to_body()), {}
        except Exception as exc:  # a line's failure is an error line, never the chunk's
            envelope = error_envelope(
                f"the request failed: {type(exc).__name__}", "server_error", "internal_error"
            )
            return False, output_line(custom_id, 500, envelope), {}
        return True, output_line(custom_id, 200, body), usage_of(body)
