"""Replaying recorded vendor responses through an adapter with ``httpx.MockTransport``."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from orchestra.schemas.chat import ChatChunk
from orchestra.transport.http import HttpClients


@dataclass
class Replay:
    """Answers every request with one recorded response, streamed in ``piece``-byte chunks."""

    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    piece: int | None = None
    error: Exception | None = None
    requests: list[httpx.Request] = field(default_factory=list)

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.error is not None:
            raise self.error
        content: Any = self.body
        if self.piece:
            content = _pieces(self.body, self.piece)
        return httpx.Response(self.status, headers=self.headers, content=content)

    def clients(self) -> HttpClients:
        return HttpClients.with_transport(httpx.MockTransport(self.handler))

    def sent_json(self, index: int = -1) -> Any:
        return json.loads(self.requests[index].content)


async def _pieces(body: bytes, size: int) -> AsyncIterator[bytes]:
    for i in range(0, len(body), size):
        yield body[i : i + size]


def stream_cut_by_an_in_band_error(raw: bytes, message: str = "Token limit reached") -> bytes:
    """A recorded OpenRouter stream whose finish (now "length") is sent twice, then an
    in-band error object and ``[DONE]``: what OpenRouter sends when a limit cuts an answer."""
    finish_at = raw.index(b'"finish_reason":"stop"')
    begin = raw.rindex(b"data: ", 0, finish_at)
    end = raw.index(b"\n\n", finish_at) + 2
    finish = raw[begin:end].replace(b'"finish_reason":"stop"', b'"finish_reason":"length"')
    error = json.dumps({"id": "g", "error": {"code": 400, "message": message}}).encode()
    rest = raw[end:].replace(b"data: [DONE]", b"data: " + error + b"\n\ndata: [DONE]")
    return raw[:begin] + finish + finish + rest


async def collect(stream: AsyncIterator[ChatChunk]) -> list[ChatChunk]:
    return [chunk async for chunk in stream]


def assert_chunk_convention(chunks: list[ChatChunk]) -> None:
    """Role first, exactly one finish, exactly one usage-only chunk, last."""
    assert chunks[0].choices and chunks[0].choices[0].delta.role == "assistant"
    finishes = [c for c in chunks if c.choices and c.choices[0].finish_reason]
    assert len(finishes) == 1
    usage_only = [c for c in chunks if not c.choices]
    assert len(usage_only) == 1 and usage_only[0] is chunks[-1]
    assert chunks[-1].usage is not None
    roles = [c for c in chunks[1:] if c.choices and c.choices[0].delta.role]
    assert roles == []


def text_of(chunks: list[ChatChunk]) -> str:
    return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)


def arguments_by_index(chunks: list[ChatChunk]) -> dict[int, dict[str, Any]]:
    calls: dict[int, dict[str, Any]] = {}
    for chunk in chunks:
        for choice in chunk.choices:
            for call in choice.delta.tool_calls or []:
                entry = calls.setdefault(call.index, {"id": None, "name": None, "arguments": ""})
                entry["id"] = entry["id"] or call.id
                fn = call.function or {}
                entry["name"] = entry["name"] or fn.get("name")
                entry["arguments"] += fn.get("arguments", "")
    return calls


Factory = Callable[[HttpClients], Any]
