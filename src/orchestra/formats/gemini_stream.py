"""Chat chunks out as ``streamGenerateContent`` responses: one ``GenerateContentResponse``
per piece of text or thought; function calls held until their arguments are complete (a
Gemini part carries whole ``args``); the last response carries ``finishReason`` and
``usageMetadata``."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pydantic_core

from orchestra.errors import OrchestraError
from orchestra.formats.gemini import envelope, error_body, function_call
from orchestra.schemas.chat import ChatChunk, FunctionCall, ToolCall, ToolCallDelta, Usage


@dataclass
class _Call:
    id: str = ""
    name: str = ""
    arguments: str = ""

    def part(self) -> dict[str, Any]:
        call = ToolCall(id=self.id, function=FunctionCall(name=self.name, arguments=self.arguments))
        return function_call(call)


@dataclass
class GeminiStream:
    """One stream's state: ``feed`` each chat chunk, ``finish`` once the relay ends."""

    model_version: str
    thoughts: bool = False
    response_id: str = ""
    calls: dict[int, _Call] = field(default_factory=dict)
    reason: str | None = None
    usage: Usage | None = None
    done: bool = False

    def feed(self, chunk: ChatChunk) -> list[dict[str, Any]]:
        self.response_id = self.response_id or chunk.id or os.urandom(16).hex()
        if chunk.usage is not None:
            self.usage = chunk.usage
        out: list[dict[str, Any]] = []
        for choice in chunk.choices[:1]:
            delta = choice.delta
            if self.thoughts and delta.reasoning_content:
                out.append(self._body([{"text": delta.reasoning_content, "thought": True}]))
            if delta.content:
                out.append(self._body([{"text": delta.content}]))
            for piece in delta.tool_calls or []:
                self._accumulate(piece)
            if choice.finish_reason is not None:
                self.reason = choice.finish_reason
        return out

    def _accumulate(self, piece: ToolCallDelta) -> None:
        call = self.calls.setdefault(piece.index, _Call())
        call.id = piece.id or call.id
        function = piece.function or {}
        call.name = function.get("name") or call.name
        call.arguments += function.get("arguments") or ""

    def finish(self) -> list[dict[str, Any]]:
        """The last response: the complete function calls, the finish reason and usage."""
        if self.done:
            return []
        self.done = True
        parts = [self.calls[i].part() for i in sorted(self.calls)] or [{"text": ""}]
        return [self._body(parts, self.reason or "stop", self.usage)]

    def _body(
        self, parts: list[dict[str, Any]], reason: str | None = None, usage: Usage | None = None
    ) -> dict[str, Any]:
        return envelope(parts, self.response_id, self.model_version, reason, usage)


def stream_error(exc: OrchestraError, scrub: Callable[[str], str]) -> dict[str, Any]:
    """A failure after the stream began, in Google's error shape, keys scrubbed."""
    _, body = error_body(exc.status, exc.type, exc.code, scrub(exc.message), exc.param)
    return body


def sse_event(body: dict[str, Any]) -> bytes:
    return b"data: " + pydantic_core.to_json(body) + b"\r\n\r\n"
