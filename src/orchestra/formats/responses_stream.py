"""A chat stream as Responses' typed server-sent events.

Each event is ``event: <type>`` and ``data: {"type": <type>, "sequence_number": n, ...}``:
``response.created`` and ``response.in_progress`` first; per output item
``response.output_item.added`` ... ``response.output_item.done`` around its content
(``content_part`` and ``output_text`` events for the message, ``reasoning_summary_*``
for reasoning, ``function_call_arguments`` for a tool call); ``response.completed`` (or
``response.incomplete``) last, with usage. A failure after the start ends the stream with
``error`` and ``response.failed``.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pydantic_core

from orchestra.errors import OrchestraError
from orchestra.formats.responses import ResponsesRequest
from orchestra.formats.responses_output import (
    function_call_item,
    message_item,
    new_id,
    reasoning_item,
    response_body,
    tool_call,
)
from orchestra.schemas.chat import ChatChunk, ChatMessage, Delta, ToolCallDelta, Usage


@dataclass
class _Open:
    """An output item being streamed: where it is, its id, what it has so far."""

    index: int
    item_id: str
    text: list[str] = field(default_factory=list)
    call_id: str = ""
    name: str = ""


class ResponseEvents:
    """Chat chunks in, Responses SSE events out (one instance per streamed answer)."""

    def __init__(self, request: ResponsesRequest, response_id: str, model: str, created: int):
        self.request, self.response_id, self.model, self.created = (
            request,
            response_id,
            model,
            created,
        )
        self.sequence = 0
        self.output: list[dict[str, Any]] = []
        self.reasoning: _Open | None = None
        self.message: _Open | None = None
        self.calls: dict[int, _Open] = {}
        self.finish_reason: str | None = None
        self.usage: Usage | None = None
        #: for the conversation kept for the next turn
        self.thinking_blocks: list[dict[str, Any]] = []
        self._thinking: list[str] = []

    def event(self, kind: str, **data: Any) -> bytes:
        payload = {"type": kind, "sequence_number": self.sequence, **data}
        self.sequence += 1
        return b"event: " + kind.encode() + b"\ndata: " + pydantic_core.to_json(payload) + b"\n\n"

    def body(self, status: str, error: dict[str, Any] | None = None) -> dict[str, Any]:
        return response_body(
            self.request,
            response_id=self.response_id,
            created_at=self.created,
            model=self.model,
            output=copy.deepcopy(self.output),
            status=status,
            finish_reason=self.finish_reason if status != "in_progress" else None,
            usage=self.usage if status != "in_progress" else None,
            error=error,
        )

    def start(self) -> list[bytes]:
        body = self.body("in_progress")
        return [
            self.event("response.created", response=body),
            self.event("response.in_progress", response=body),
        ]

    def feed(self, chunk: ChatChunk) -> list[bytes]:
        if chunk.usage is not None:
            self.usage = chunk.usage
        events: list[bytes] = []
        for choice in chunk.choices:
            events += self._delta(choice.delta)
            if choice.finish_reason is not None:
                self.finish_reason = choice.finish_reason
        return events

    def _delta(self, delta: Delta) -> list[bytes]:
        events: list[bytes] = []
        if delta.reasoning_content:
            events += self._reasoning_text(delta.reasoning_content)
        if delta.reasoning_signature is not None:
            text = "".join(self._thinking)
            block = {"type": "thinking", "thinking": text, "signature": delta.reasoning_signature}
            self.thinking_blocks.append(block)
            self._thinking = []
        if delta.redacted_thinking is not None:
            self.thinking_blocks.append(
                {"type": "redacted_thinking", "data": delta.redacted_thinking}
            )
        if delta.content:
            events += self._text(delta.content)
        for call in delta.tool_calls or []:
            events += self._call(call)
        return events

    def _add(self, item: dict[str, Any]) -> tuple[_Open, bytes]:
        opened = _Open(len(self.output), item["id"])
        self.output.append(item)
        return opened, self.event(
            "response.output_item.added", output_index=opened.index, item=copy.deepcopy(item)
        )

    def _reasoning_text(self, text: str) -> list[bytes]:
        self._thinking.append(text)
        events = self._close_message() + self._close_calls()
        if self.reasoning is None:
            self.reasoning, added = self._add(reasoning_item("", item_id=new_id("rs")))
            part = {"type": "summary_text", "text": ""}
            events += [added, self._summary("response.reasoning_summary_part.added", part=part)]
        self.reasoning.text.append(text)
        return [*events, self._summary("response.reasoning_summary_text.delta", delta=text)]

    def _summary(self, kind: str, **data: Any) -> bytes:
        assert self.reasoning is not None
        where = {"item_id": self.reasoning.item_id, "output_index": self.reasoning.index}
        return self.event(kind, **where, summary_index=0, **data)

    def _text(self, text: str) -> list[bytes]:
        events = self._close_reasoning() + self._close_calls()
        if self.message is None:
            item = message_item("", item_id=new_id("msg"), status="in_progress")
            item["content"] = []
            self.message, added = self._add(item)
            part = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
            events += [added, self._part("response.content_part.added", part=part)]
        self.message.text.append(text)
        return [*events, self._part("response.output_text.delta", delta=text, logprobs=[])]

    def _part(self, kind: str, **data: Any) -> bytes:
        assert self.message is not None
        where = {"item_id": self.message.item_id, "output_index": self.message.index}
        return self.event(kind, **where, content_index=0, **data)

    def _call(self, delta: ToolCallDelta) -> list[bytes]:
        events: list[bytes] = []
        opened = self.calls.get(delta.index)
        function = delta.function or {}
        if opened is None:
            events += self._close_reasoning() + self._close_message()
            call_id = delta.id or new_id("call")
            name = function.get("name", "")
            item = function_call_item(call_id, name, "", item_id=new_id("fc"), status="in_progress")
            opened, added = self._add(item)
            opened.call_id, opened.name = call_id, name
            self.calls[delta.index] = opened
            events.append(added)
        piece = function.get("arguments") or ""
        if piece:
            opened.text.append(piece)
            events.append(
                self.event(
                    "response.function_call_arguments.delta",
                    item_id=opened.item_id,
                    output_index=opened.index,
                    delta=piece,
                )
            )
        return events

    def _close_reasoning(self) -> list[bytes]:
        opened, self.reasoning = self.reasoning, None
        if opened is None:
            return []
        text = "".join(opened.text)
        item = reasoning_item(text, item_id=opened.item_id)
        self.output[opened.index] = item
        self.reasoning = opened  # for the two summary events below
        events = [
            self._summary("response.reasoning_summary_text.done", text=text),
            self._summary(
                "response.reasoning_summary_part.done", part={"type": "summary_text", "text": text}
            ),
        ]
        self.reasoning = None
        return [*events, self._item_done(opened.index)]

    def _close_message(self) -> list[bytes]:
        opened = self.message
        if opened is None:
            return []
        text = "".join(opened.text)
        status = "incomplete" if self.finish_reason in ("length", "content_filter") else "completed"
        item = message_item(text, item_id=opened.item_id, status=status)
        self.output[opened.index] = item
        part = item["content"][0]
        events = [
            self._part("response.output_text.done", text=text, logprobs=[]),
            self._part("response.content_part.done", part=part),
        ]
        self.message = None
        return [*events, self._item_done(opened.index)]

    def _close_calls(self) -> list[bytes]:
        events = []
        for opened in self.calls.values():
            arguments = "".join(opened.text)
            self.output[opened.index] = function_call_item(
                opened.call_id, opened.name, arguments, item_id=opened.item_id
            )
            events.append(
                self.event(
                    "response.function_call_arguments.done",
                    item_id=opened.item_id,
                    output_index=opened.index,
                    name=opened.name,
                    arguments=arguments,
                )
            )
            events.append(self._item_done(opened.index))
        self.calls = {}
        return events

    def _item_done(self, index: int) -> bytes:
        item = copy.deepcopy(self.output[index])
        return self.event("response.output_item.done", output_index=index, item=item)

    def finish(self) -> tuple[list[bytes], dict[str, Any]]:
        """The closing events, and the final ``response`` object."""
        events = self._close_reasoning() + self._close_message() + self._close_calls()
        body = self.body("completed")
        kind = "response.completed" if body["status"] == "completed" else "response.incomplete"
        return [*events, self.event(kind, response=body)], body

    def fail(self, exc: OrchestraError, scrub: Callable[[str], str]) -> list[bytes]:
        """The events ending a failed stream: ``error``, then ``response.failed``."""
        message = scrub(exc.message)
        error = self.event("error", code=exc.code, message=message, param=exc.param)
        failed = self.body("failed", error={"code": exc.code, "message": message})
        return [error, self.event("response.failed", response=failed)]

    def assistant_turn(self) -> ChatMessage:
        """The streamed answer as the conversation's next message."""
        text = "".join(
            part["text"]
            for item in self.output
            if item["type"] == "message"
            for part in item["content"]
        )
        reasoning = "".join(
            s["text"]
            for item in self.output
            if item["type"] == "reasoning"
            for s in item["summary"]
        )
        calls = [
            tool_call(item["call_id"], item["name"], item["arguments"])
            for item in self.output
            if item["type"] == "function_call"
        ]
        return ChatMessage(
            role="assistant",
            content=text or None,
            tool_calls=calls or None,
            reasoning_content=reasoning or None,
            thinking_blocks=self.thinking_blocks or None,
        )
