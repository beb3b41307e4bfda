"""Anthropic Messages, streamed out: the internal chunk stream as Anthropic's SSE events.

``message_start`` (empty content, the prompt's tokens), ``ping``, then one
``content_block_start`` / ``content_block_delta``... / ``content_block_stop`` run per block,
indexed from 0 in order (``thinking`` with ``thinking_delta`` and ``signature_delta``,
``redacted_thinking`` whole, ``text`` with ``text_delta``, ``tool_use`` with
``input_json_delta``), then ``message_delta`` (stop reason, usage) and ``message_stop``. A
stream that fails after it started ends with ``event: error``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import pydantic_core

from orchestra.errors import OrchestraError
from orchestra.formats.anthropic import error_body
from orchestra.formats.anthropic_answer import STOP_REASONS, message_id, render_usage
from orchestra.schemas.chat import ChatChunk, Delta, ToolCallDelta, Usage

#: Anthropic's own keep-alive event (clients ignore it), sent in silences too
PING = b'event: ping\ndata: {"type": "ping"}\n\n'


def event(kind: str, data: dict[str, Any]) -> bytes:
    """One SSE event: ``event: <type>`` and its JSON (whose ``type`` is the same)."""
    payload = pydantic_core.to_json({"type": kind, **data}).decode()
    return f"event: {kind}\ndata: {payload}\n\n".encode()


def error_event(exc: OrchestraError, scrub: Callable[[str], str]) -> bytes:
    """The event that ends a failed stream, in Anthropic's error shape, keys scrubbed."""
    _, body = error_body(exc.status, exc.type, exc.code, scrub(exc.message), exc.param)
    return event("error", {"error": body["error"]})


class MessageStream:
    """Turns one answer's chunks into Anthropic events (one instance per stream).

    ``keep_thinking``: pass reasoning on as thinking blocks (the answering model signs
    them, so the client may send them back); otherwise reasoning is left out.
    """

    def __init__(self, model_id: str, input_tokens: int, *, keep_thinking: bool) -> None:
        self.model_id = model_id
        self.input_tokens = input_tokens
        self.keep_thinking = keep_thinking
        self.started = False
        self.index = -1  # the last block opened
        self.open: str | None = None  # the type of the open block, if one is
        self.signed = False  # the open thinking block got its signature
        self.tools: dict[int, int] = {}  # tool call index -> block index
        self.stop_reason = "end_turn"
        self.usage: Usage | None = None

    def feed(self, chunk: ChatChunk) -> list[bytes]:
        out = [] if self.started else self._start(chunk.id)
        if chunk.usage is not None:
            self.usage = chunk.usage
        for choice in chunk.choices:
            out += self._delta(choice.delta)
            if choice.finish_reason is not None:
                self.stop_reason = STOP_REASONS.get(choice.finish_reason, "end_turn")
                out += self._close()
        return out

    def finish(self) -> list[bytes]:
        """The last events, once the stream ended well."""
        out = ([] if self.started else self._start(None)) + self._close()
        usage = render_usage(self.usage or Usage())
        delta = {"stop_reason": self.stop_reason, "stop_sequence": None}
        out.append(event("message_delta", {"delta": delta, "usage": usage}))
        out.append(event("message_stop", {}))
        return out

    def _start(self, chunk_id: str | None) -> list[bytes]:
        self.started = True
        message: dict[str, Any] = {
            "id": message_id(chunk_id),
            "type": "message",
            "role": "assistant",
            "model": self.model_id,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": render_usage(Usage.of(self.input_tokens, 0)),
        }
        return [event("message_start", {"message": message}), PING]

    def _delta(self, delta: Delta) -> list[bytes]:
        out: list[bytes] = []
        if self.keep_thinking:
            out += self._thinking(delta)
        if delta.content:
            if self.open != "text":
                out += self._open({"type": "text", "text": ""})
            out.append(self._block_delta(self.index, {"type": "text_delta", "text": delta.content}))
        for call in delta.tool_calls or []:
            out += self._tool_call(call)
        return out

    def _thinking(self, delta: Delta) -> list[bytes]:
        out: list[bytes] = []
        if delta.reasoning_content:
            if self.open != "thinking" or self.signed:
                out += self._open({"type": "thinking", "thinking": "", "signature": ""})
            piece = {"type": "thinking_delta", "thinking": delta.reasoning_content}
            out.append(self._block_delta(self.index, piece))
        if delta.reasoning_signature:
            if self.open != "thinking" or self.signed:
                out += self._open({"type": "thinking", "thinking": "", "signature": ""})
            piece = {"type": "signature_delta", "signature": delta.reasoning_signature}
            out.append(self._block_delta(self.index, piece))
            self.signed = True
        if delta.redacted_thinking:
            out += self._open({"type": "redacted_thinking", "data": delta.redacted_thinking})
            out += self._close()
        return out

    def _tool_call(self, call: ToolCallDelta) -> list[bytes]:
        out: list[bytes] = []
        function = call.function or {}
        if call.index not in self.tools:
            call_id = call.id or f"toolu_{os.urandom(12).hex()}"
            block = {"type": "tool_use", "id": call_id, "name": function.get("name", "")}
            out += self._open({**block, "input": {}})
            self.tools[call.index] = self.index
        if arguments := function.get("arguments"):
            piece = {"type": "input_json_delta", "partial_json": arguments}
            out.append(self._block_delta(self.tools[call.index], piece))
        return out

    def _open(self, block: dict[str, Any]) -> list[bytes]:
        out = self._close()
        self.index += 1
        self.open, self.signed = str(block["type"]), False
        out.append(event("content_block_start", {"index": self.index, "content_block": block}))
        return out

    def _close(self) -> list[bytes]:
        if self.open is None:
            return []
        self.open = None
        return [event("content_block_stop", {"index": self.index})]

    @staticmethod
    def _block_delta(index: int, delta: dict[str, Any]) -> bytes:
        return event("content_block_delta", {"index": index, "delta": delta})
