"""Anthropic Messages API (``POST /v1/messages``), translated to and from OpenAI chat.

System and developer messages become ``system``; tool results become ``tool_result`` blocks
in a user turn; consecutive same-role turns are merged (the API requires alternation).
Streams are typed SSE events: usage totals arrive in ``message_delta``, ``ping`` frames come
and go, and a stream may end with ``event: error`` and no ``message_stop``: that raises.
"""

from __future__ import annotations

import json
import re
from typing import Any

import httpx

from orchestra.providers import http_provider
from orchestra.providers.base import CallOptions, ProviderConfig
from orchestra.providers.chunks import ChunkFactory
from orchestra.providers.http_provider import SseProvider
from orchestra.providers.wire import (
    DATA_URL,
    ErrorReading,
    alternating_turns,
    image_url,
    json_object,
)
from orchestra.schemas.chat import (
    ChatChunk,
    ChatMessage,
    ChatRequest,
    ChatResponse,
    FinishReason,
    Usage,
)
from orchestra.transport.http import HttpClients, error_message, json_or_none, parse_retry_after
from orchestra.transport.sse import SSEEvent

API_VERSION = "2023-06-01"
DEFAULT_MAX_TOKENS = 4096
STOP_REASONS: dict[str, FinishReason] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}
#: error ``type`` -> the HTTP status it stands for (in-band stream errors carry only a type)
ERROR_TYPES = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "overloaded_error": 529,
}
CONTEXT_PHRASES = re.compile(r"prompt is too long|context (window|length)", re.IGNORECASE)


# --- request -------------------------------------------------------------------------


def to_body(request: ChatRequest, model: str, *, stream: bool) -> dict[str, Any]:
    system = [m.text() for m in request.messages if m.role in ("system", "developer")]
    body: dict[str, Any] = {
        "model": model,
        "max_tokens": request.output_limit() or DEFAULT_MAX_TOKENS,
        "messages": to_messages(request.messages),
    }
    if system:
        body["system"] = "\n\n".join(system)
    if request.temperature is not None:
        body["temperature"] = min(request.temperature, 1.0)  # Anthropic's range is 0..1
    if request.top_p is not None:
        body["top_p"] = request.top_p
    if stops := request.stop_list():
        body["stop_sequences"] = stops
    if request.tools:
        body["tools"] = [_tool(t) for t in request.tools if t.get("type") == "function"]
        if (choice := _tool_choice(request.tool_choice)) is not None:
            body["tool_choice"] = choice
    if request.user:
        body["metadata"] = {"user_id": request.user[:256]}
    if stream:
        body["stream"] = True
    return body


def to_messages(messages: list[ChatMessage]) -> list[dict[str, Any]]:
    return alternating_turns(messages, _blocks)


def _blocks(message: ChatMessage) -> list[dict[str, Any]]:
    if message.role in ("tool", "function"):
        return [
            {
                "type": "tool_result",
                "tool_use_id": message.tool_call_id or message.name or "",
                "content": message.text(),
            }
        ]
    blocks = _content_blocks(message)
    for call in message.tool_calls or []:
        blocks.append(
            {
                "type": "tool_use",
                "id": call.id,
                "name": call.function.name,
                "input": json_object(call.function.arguments),
            }
        )
    return blocks


def _content_blocks(message: ChatMessage) -> list[dict[str, Any]]:
    if isinstance(message.content, str):
        return [{"type": "text", "text": message.content}] if message.content else []
    blocks: list[dict[str, Any]] = []
    for part in message.content or []:
        if part.get("type") == "text" and part.get("text"):
            blocks.append({"type": "text", "text": part["text"]})
        elif part.get("type") == "image_url":
            blocks.append({"type": "image", "source": _image_source(part)})
    return blocks


def _image_source(part: dict[str, Any]) -> dict[str, Any]:
    url = image_url(part.get("image_url"))
    if match := DATA_URL.match(url):
        return {"type": "base64", "media_type": match["mime"], "data": match["data"]}
    return {"type": "url", "url": url}


def _tool(tool: dict[str, Any]) -> dict[str, Any]:
    function = tool.get("function") or {}
    spec: dict[str, Any] = {
        "name": function.get("name", ""),
        "input_schema": function.get("parameters") or {"type": "object", "properties": {}},
    }
    if function.get("description"):
        spec["description"] = function["description"]
    return spec


def _tool_choice(choice: str | dict[str, Any] | None) -> dict[str, Any] | None:
    if choice is None:
        return None
    if isinstance(choice, dict):
        name = (choice.get("function") or {}).get("name")
        return {"type": "tool", "name": name} if name else None
    return {"auto": {"type": "auto"}, "required": {"type": "any"}, "none": {"type": "none"}}.get(
        choice
    )


# --- response ------------------------------------------------------------------------


def parse_usage(raw: Any) -> Usage:
    raw = raw if isinstance(raw, dict) else {}
    prompt = sum(
        int(raw.get(k) or 0)
        for k in ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")
    )
    return Usage.of(prompt, int(raw.get("output_tokens") or 0))


def parse_response(body: Any, model: str) -> ChatResponse:
    if not isinstance(body, dict) or not isinstance(body.get("content"), list):
        raise KeyError("content")
    text = "".join(b.get("text", "") for b in body["content"] if b.get("type") == "text")
    calls = [
        {
            "id": b["id"],
            "type": "function",
            "function": {"name": b["name"], "arguments": json.dumps(b.get("input") or {})},
        }
        for b in body["content"]
        if b.get("type") == "tool_use"
    ]
    return ChatResponse.model_validate(
        {
            "id": body.get("id") or "",
            "model": model,
            "choices": [
                {
                    "message": {"content": text or None, "tool_calls": calls or None},
                    "finish_reason": STOP_REASONS.get(body.get("stop_reason") or "", "stop"),
                }
            ],
            "usage": parse_usage(body.get("usage")),
        }
    )


def read_error(status: int, headers: httpx.Headers, raw: bytes) -> ErrorReading:
    body = json_or_none(raw)
    err = body.get("error") if isinstance(body, dict) else None
    kind = err.get("type") if isinstance(err, dict) else None
    if status < 400:  # an ``event: error`` inside a 200 stream
        status = ERROR_TYPES.get(kind or "", 500)
    message = error_message(body, f"HTTP {status}")
    too_long = status in (400, 413) and bool(CONTEXT_PHRASES.search(message))
    code = kind if isinstance(kind, str) else None
    return ErrorReading(status, message, code, too_long, parse_retry_after(headers))


# --- streaming -----------------------------------------------------------------------


class StreamState(http_provider.StreamState):
    """Turns Messages stream events into OpenAI chunks (one instance per stream)."""

    def __init__(self, model: str) -> None:
        self.chunks = ChunkFactory(model)
        self.tools: dict[int, int] = {}  # content block index -> tool call index
        self.with_args: set[int] = set()  # tool blocks that received argument JSON
        self.usage = Usage()
        self.stop: FinishReason | None = None
        self.done = False

    def feed(self, event: dict[str, Any]) -> list[ChatChunk]:
        kind = event.get("type")
        if kind == "message_start":
            message = event["message"]
            self.chunks.id = message.get("id") or self.chunks.id
            self.usage = parse_usage(message.get("usage"))
            return [self.chunks.role()]
        if kind == "content_block_start":
            return self._block_start(event["index"], event["content_block"])
        if kind == "content_block_delta":
            return self._delta(event["index"], event["delta"])
        if kind == "content_block_stop":
            index = event.get("index", -1)
            if index in self.tools and index not in self.with_args:  # a no-argument tool
                return [self.chunks.tool_call(self.tools[index], arguments="{}")]
            return []
        if kind == "message_delta":
            self._usage_update(event.get("usage"))
            reason = (event.get("delta") or {}).get("stop_reason")
            self.stop = STOP_REASONS.get(reason or "", "stop")
            return []
        if kind == "message_stop":
            self.done = True
            finish = self.chunks.finish(self.stop or "stop")
            usage = self.chunks.usage(self.usage.prompt_tokens, self.usage.completion_tokens)
            return [finish, usage]
        return []  # ping, and event types added later

    def _block_start(self, index: int, block: dict[str, Any]) -> list[ChatChunk]:
        if block.get("type") == "tool_use":
            self.tools[index] = len(self.tools)
            call = self.chunks.tool_call(self.tools[index], call_id=block["id"], name=block["name"])
            return [call]
        if block.get("type") == "text" and block.get("text"):
            return [self.chunks.text(block["text"])]
        return []

    def _delta(self, index: int, delta: dict[str, Any]) -> list[ChatChunk]:
        if delta.get("type") == "text_delta" and delta.get("text"):
            return [self.chunks.text(delta["text"])]
        if delta.get("type") == "input_json_delta" and index in self.tools:
            fragment = delta.get("partial_json") or ""
            if fragment:
                self.with_args.add(index)
            return (
                [self.chunks.tool_call(self.tools[index], arguments=fragment)] if fragment else []
            )
        return []  # thinking and signature deltas are not part of the OpenAI answer

    def _usage_update(self, raw: Any) -> None:
        if not isinstance(raw, dict):
            return
        merged = {"input_tokens": self.usage.prompt_tokens, **raw}
        if "input_tokens" in raw:  # newer APIs repeat the whole prompt count here
            self.usage = parse_usage(merged)
        else:
            self.usage = Usage.of(self.usage.prompt_tokens, int(raw.get("output_tokens") or 0))


# --- provider ------------------------------------------------------------------------


class AnthropicProvider(SseProvider[StreamState]):
    """The Messages API at ``base_url`` (default https://api.anthropic.com)."""

    response_parser = staticmethod(parse_response)
    error_reader = staticmethod(read_error)

    def __init__(self, config: ProviderConfig, http: HttpClients) -> None:
        super().__init__(config, http)
        base = (config.base_url or "https://api.anthropic.com").rstrip("/")
        self.url = base + ("/messages" if base.endswith("/v1") else "/v1/messages")
        self.headers = {
            "content-type": "application/json",
            "anthropic-version": API_VERSION,
            **config.headers,
        }
        if config.api_key:
            self.headers["x-api-key"] = config.api_key

    def build_request(
        self, request: ChatRequest, model: str, options: CallOptions, *, stream: bool
    ) -> httpx.Request:
        return self.post(
            self.url, options, self.headers, json=to_body(request, model, stream=stream)
        )

    def stream_state(self, request: ChatRequest, model: str) -> StreamState:
        return StreamState(model)

    def parse_event(self, state: StreamState, event: SSEEvent, model: str) -> list[ChatChunk]:
        data = json.loads(event.data)
        if event.event == "error" or data.get("type") == "error":
            raise self.map_error(200, httpx.Headers(), event.data.encode(), model)
        return state.feed(data)

    def end_stream(self, state: StreamState, model: str) -> list[ChatChunk]:
        if not state.done:
            raise self.cut(model, "before message_stop")
        return []
