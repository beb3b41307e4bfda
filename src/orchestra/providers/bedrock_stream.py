"""Bedrock ConverseStream: AWS binary event-stream frames in, OpenAI chunks out.

ConverseStream answers in AWS event-stream framing (not SSE), decoded incrementally with
botocore's ``EventStreamBuffer``; :class:`StreamState` turns the decoded events into the
chunk convention of :mod:`orchestra.providers.chunks`. The reserved JSON tool's input streams
as text (:mod:`orchestra.providers.json_tool`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from orchestra.providers import http_provider
from orchestra.providers.bedrock_convert import STOP_REASONS, parse_usage
from orchestra.providers.chunks import ChunkFactory
from orchestra.providers.json_tool import JsonStream
from orchestra.schemas.chat import ChatChunk, Usage
from orchestra.tokens import estimate_text_tokens


class StreamState(http_provider.StreamState):
    """ConverseStream events (already decoded from their frames) in, OpenAI chunks out."""

    def __init__(
        self, model: str, prompt_tokens: int = 0, json_stream: JsonStream | None = None
    ) -> None:
        self.chunks = ChunkFactory(model)
        self.json = json_stream or JsonStream(None)  # the reserved JSON tool's blocks
        self.tools: dict[int, int] = {}  # contentBlockIndex -> tool call index
        self.argued: set[int] = set()  # tool blocks that sent some input
        self.usage: Usage | None = None
        self.stopped = False
        self.started = False
        self.prompt_tokens = prompt_tokens
        self.text: list[str] = []  # for an estimate should ``metadata`` never come

    def feed(self, kind: str, payload: dict[str, Any]) -> list[ChatChunk]:
        out: list[ChatChunk] = []
        if not self.started and kind != "metadata":  # role first, even without messageStart
            self.started = True
            out.append(self.chunks.role())
        block = payload.get("contentBlockIndex", 0)
        if kind == "contentBlockStart" and (tool := (payload.get("start") or {}).get("toolUse")):
            out += self._tool_start(block, tool)
        elif kind == "contentBlockDelta":
            out += self._delta(block, payload.get("delta") or {})
        elif kind == "contentBlockStop" and block in self.tools and block not in self.argued:
            out.append(self.chunks.tool_call(self.tools[block], arguments="{}"))  # no input
        elif kind == "contentBlockStop" and (text := self.json.close(block)):
            out.append(self.chunks.text(text))
        elif kind == "messageStop":
            self.stopped = True
            reason = STOP_REASONS.get(payload.get("stopReason") or "", "stop")
            out.append(self.chunks.finish(self.json.finish(reason, other_tools=bool(self.tools))))
        elif kind == "metadata":
            self.usage = parse_usage(payload.get("usage"))
        return out

    def _tool_start(self, block: int, tool: dict[str, Any]) -> list[ChatChunk]:
        if self.json.claims(block, str(tool.get("name"))):
            return []  # the reserved JSON tool: its input is the answer's text
        index = self.tools[block] = len(self.tools)
        return [self.chunks.tool_call(index, call_id=tool["toolUseId"], name=tool["name"])]

    def _delta(self, block: int, delta: dict[str, Any]) -> list[ChatChunk]:
        if delta.get("text"):
            self.text.append(delta["text"])
            return [self.chunks.text(delta["text"])]
        fragment = (delta.get("toolUse") or {}).get("input") or ""
        if block in self.json.blocks:
            self.text.append(fragment)
            text = self.json.piece(block, fragment)
            return [self.chunks.text(text)] if text else []
        if fragment and block in self.tools:
            self.argued.add(block)
            self.text.append(fragment)
            return [self.chunks.tool_call(self.tools[block], arguments=fragment)]
        return self._reasoning(delta.get("reasoningContent"))

    def _reasoning(self, delta: Any) -> list[ChatChunk]:
        """Claude's reasoning: text pieces, a block's closing signature, redacted blocks."""
        if not isinstance(delta, dict):
            return []
        if delta.get("text"):
            self.text.append(delta["text"])
            return [self.chunks.reasoning(delta["text"])]
        if delta.get("signature"):
            return [self.chunks.reasoning(signature=delta["signature"])]
        if delta.get("redactedContent"):
            return [self.chunks.reasoning(redacted=str(delta["redactedContent"]))]
        return []

    def close(self) -> ChatChunk:
        """The usage-only chunk: the vendor's count, else an estimate, never nothing."""
        usage = self.usage or Usage.of(self.prompt_tokens, estimate_text_tokens("".join(self.text)))
        return self.chunks.usage(
            usage.prompt_tokens,
            usage.completion_tokens,
            cached=usage.cached_tokens,
            cache_creation=usage.cache_creation_tokens,
        )


async def aiter_frames(chunks: AsyncIterator[bytes]) -> AsyncIterator[tuple[dict[str, Any], bytes]]:
    """Each event-stream frame as (headers, payload); a CRC mismatch raises ``ParserError``."""
    from botocore.eventstream import EventStreamBuffer

    buffer = EventStreamBuffer()
    async for chunk in chunks:
        buffer.add_data(chunk)
        for message in buffer:
            frame: Any = message  # botocore-stubs mistype EventStreamMessage's fields
            yield dict(frame.headers), bytes(frame.payload)
