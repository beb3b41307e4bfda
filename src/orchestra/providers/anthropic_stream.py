"""Anthropic Messages stream events as OpenAI chunks (the convention of
:mod:`orchestra.providers.chunks`).

Thinking streams as ``reasoning_content`` pieces (``thinking_delta``), each signed block
ending with its ``reasoning_signature`` (``signature_delta``); a ``redacted_thinking`` block
arrives whole at its start and becomes one ``redacted_thinking`` delta. Usage totals arrive
in ``message_start`` and ``message_delta`` (cache reads and writes included) and go out in
the final usage-only chunk. The reserved JSON tool's input streams as text
(:mod:`~orchestra.providers.json_tool`).
"""

from __future__ import annotations

from typing import Any

from orchestra.providers import http_provider
from orchestra.providers.anthropic_response import STOP_REASONS, parse_usage
from orchestra.providers.chunks import ChunkFactory
from orchestra.providers.json_tool import JsonStream
from orchestra.schemas.chat import ChatChunk, FinishReason


class StreamState(http_provider.StreamState):
    """Turns Messages stream events into OpenAI chunks (one instance per stream)."""

    def __init__(self, model: str, json_stream: JsonStream | None = None) -> None:
        self.chunks = ChunkFactory(model)
        self.json = json_stream or JsonStream(None)  # the reserved JSON tool's blocks
        self.tools: dict[int, int] = {}  # content block index -> tool call index
        self.with_args: set[int] = set()  # tool blocks that received argument JSON
        self.usage: dict[str, Any] = {}  # the vendor's usage counts, latest value of each
        self.stop: FinishReason | None = None
        self.done = False

    def feed(self, event: dict[str, Any]) -> list[ChatChunk]:
        kind = event.get("type")
        if kind == "message_start":
            message = event["message"]
            self.chunks.id = message.get("id") or self.chunks.id
            self._usage_update(message.get("usage"))
            return [self.chunks.role()]
        if kind == "content_block_start":
            return self._block_start(event["index"], event["content_block"])
        if kind == "content_block_delta":
            return self._delta(event["index"], event["delta"])
        if kind == "content_block_stop":
            return self._block_stop(event.get("index", -1))
        if kind == "message_delta":
            self._usage_update(event.get("usage"))
            reason = STOP_REASONS.get((event.get("delta") or {}).get("stop_reason") or "", "stop")
            self.stop = self.json.finish(reason, other_tools=bool(self.tools))
            return []
        if kind == "message_stop":
            self.done = True
            return [self.chunks.finish(self.stop or "stop"), self._usage_chunk()]
        return []  # ping, and event types added later

    def _block_start(self, index: int, block: dict[str, Any]) -> list[ChatChunk]:
        kind = block.get("type")
        if kind == "tool_use" and self.json.claims(index, str(block.get("name"))):
            return []  # the reserved JSON tool: its input is the answer's text
        if kind == "tool_use":
            self.tools[index] = len(self.tools)
            call = self.chunks.tool_call(self.tools[index], call_id=block["id"], name=block["name"])
            return [call]
        if kind == "text" and block.get("text"):
            return [self.chunks.text(block["text"])]
        if kind == "thinking" and block.get("thinking"):
            return [self.chunks.reasoning(block["thinking"])]
        if kind == "redacted_thinking":
            return [self.chunks.reasoning(redacted=str(block.get("data") or ""))]
        return []

    def _delta(self, index: int, delta: dict[str, Any]) -> list[ChatChunk]:
        kind = delta.get("type")
        if kind == "text_delta" and delta.get("text"):
            return [self.chunks.text(delta["text"])]
        if kind == "thinking_delta" and delta.get("thinking"):
            return [self.chunks.reasoning(delta["thinking"])]
        if kind == "signature_delta" and delta.get("signature"):
            return [self.chunks.reasoning(signature=delta["signature"])]
        if kind == "input_json_delta" and index in self.json.blocks:
            text = self.json.piece(index, delta.get("partial_json") or "")
            return [self.chunks.text(text)] if text else []
        if kind == "input_json_delta" and index in self.tools:
            fragment = delta.get("partial_json") or ""
            if fragment:
                self.with_args.add(index)
            return (
                [self.chunks.tool_call(self.tools[index], arguments=fragment)] if fragment else []
            )
        return []  # citations and delta types added later

    def _block_stop(self, index: int) -> list[ChatChunk]:
        if index in self.tools and index not in self.with_args:  # a no-argument tool
            return [self.chunks.tool_call(self.tools[index], arguments="{}")]
        text = self.json.close(index)
        return [self.chunks.text(text)] if text else []

    def _usage_update(self, raw: Any) -> None:
        """Newer APIs repeat the prompt counts in ``message_delta``; older ones send only
        ``output_tokens`` there: each count keeps its latest value."""
        if isinstance(raw, dict):
            self.usage.update({k: v for k, v in raw.items() if v is not None})

    def _usage_chunk(self) -> ChatChunk:
        usage = parse_usage(self.usage)
        return self.chunks.usage(
            usage.prompt_tokens,
            usage.completion_tokens,
            cached=usage.cached_tokens,
            cache_creation=usage.cache_creation_tokens,
        )
