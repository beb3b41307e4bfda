"""OpenAI's Responses API as an outbound protocol (``POST {base}/responses``), for OpenAI
itself: a client speaking Responses reaches it with its own body (built-in tools such as
``web_search``, ``include``, ``reasoning.summary``, ``truncation``... pass through), while
the gateway keeps the conversation state.

The body is the client's native body with ``model`` (the routed one), ``stream``,
``store: false`` and no ``previous_response_id``; ``input`` is rebuilt from the expanded
conversation (``request.messages``), so the upstream sees every turn. The answer (a
``response`` object) becomes a :class:`ChatResponse` carrying the upstream's own body as
its native one; the typed stream events become chunks (:class:`ResponsesStream`).
"""

from __future__ import annotations

import json
from typing import Any

from orchestra.errors import InvalidRequest
from orchestra.providers.chunks import ChunkFactory
from orchestra.providers.http_provider import StreamState
from orchestra.providers.wire import image_url
from orchestra.schemas.chat import (
    ChatChunk,
    ChatMessage,
    ChatRequest,
    ChatResponse,
    FinishReason,
    NativeBody,
    Usage,
)

RESPONSES_FORMAT = "openai-responses"
#: fields of the client's body that the gateway decides (or that are its own extensions)
GATEWAY_FIELDS = ("previous_response_id", "fallbacks", "profile", "input", "instructions")
#: why an incomplete answer stopped, as a chat finish reason
INCOMPLETE: dict[str, FinishReason] = {
    "max_output_tokens": "length",
    "content_filter": "content_filter",
}


#: the status an in-band stream error's code stands for (anything else: 502)
STREAM_ERROR_STATUS = {
    "rate_limit_exceeded": 429,
    "insufficient_quota": 429,
    "context_length_exceeded": 400,
    "invalid_prompt": 400,
    "server_error": 500,
}


def speaks_responses(request: ChatRequest) -> bool:
    """Whether the request came in as Responses (so an OpenAI upstream gets it as such)."""
    return request.native is not None and request.native.format == RESPONSES_FORMAT


# --- the request ---------------------------------------------------------------------------


def responses_body(request: ChatRequest, model: str, *, stream: bool) -> dict[str, Any]:
    """The client's own Responses body for the upstream: its fields as sent, the routed
    ``model``, ``stream``, ``store: false`` (the gateway keeps the state) and the whole
    conversation as ``input``."""
    native = request.native
    assert native is not None  # only called for requests that came in as Responses
    body = {k: v for k, v in native.body.items() if k not in GATEWAY_FIELDS}
    body["model"] = model
    body["stream"] = stream
    body["store"] = False
    if "tools" in body and isinstance(body["tools"], list):
        body["tools"] = [_flat_tool(tool) for tool in body["tools"]]
    instructions, items = input_items(request.messages)
    if instructions:
        body["instructions"] = instructions
    body["input"] = items
    return body


def _flat_tool(tool: Any) -> Any:
    """A chat-shaped function tool (``{"type": "function", "function": {...}}``) made flat,
    as Responses declares them; any other tool (built-ins included) as it is."""
    if isinstance(tool, dict) and isinstance(tool.get("function"), dict):
        return {"type": "function", **tool["function"]}
    return tool


def input_items(messages: list[ChatMessage]) -> tuple[str | None, list[dict[str, Any]]]:
    """(instructions, input items): leading system messages are the instructions; every
    other message becomes items (developer and later system messages keep their role)."""
    start = 0
    while start < len(messages) and messages[start].role == "system":
        start += 1
    instructions = "\n\n".join(m.text() for m in messages[:start]) or None
    items: list[dict[str, Any]] = []
    for i, message in enumerate(messages[start:], start):
        items += _items(message, i)
    return instructions, items


def _items(message: ChatMessage, index: int) -> list[dict[str, Any]]:
    where = f"messages[{index}]"
    if message.role == "tool":
        output = _content(message.content, f"{where}.content")
        if getattr(message, "is_error", None):
            output = f"Error: {output}" if isinstance(output, str) else output
        return [{"type": "function_call_output", "call_id": message.tool_call_id, "output": output}]
    if message.role == "assistant":
        items = []
        if text := message.text():
            content = [{"type": "output_text", "text": text}]
            items.append({"type": "message", "role": "assistant", "content": content})
        for call in message.tool_calls or []:
            function = call.function
            items.append(
                {
                    "type": "function_call",
                    "call_id": call.id,
                    "name": function.name,
                    "arguments": function.arguments or "{}",
                }
            )
        return items
    role = "user" if message.role in ("user", "function") else message.role
    parts = _content(message.content, f"{where}.content")
    content = [{"type": "input_text", "text": parts}] if isinstance(parts, str) else parts
    return [{"type": "message", "role": role, "content": content}]


def _content(content: Any, where: str) -> Any:
    """A message's content as Responses parts (a plain string stays one)."""
    if content is None or isinstance(content, str):
        return content or ""
    return [_part(part, f"{where}[{j}]") for j, part in enumerate(content)]


def _part(part: dict[str, Any], where: str) -> dict[str, Any]:
    kind = part.get("type")
    if kind == "text":
        return {"type": "input_text", "text": str(part.get("text", ""))}
    if kind == "image_url":
        image = part.get("image_url")
        out = {"type": "input_image", "image_url": image_url(image)}
        if isinstance(image, dict) and image.get("detail"):
            out["detail"] = image["detail"]
        return out
    if kind == "file" and isinstance(part.get("file"), dict):
        file = {k: v for k, v in part["file"].items() if k in _FILE_FIELDS}
        return {"type": "input_file", **file}
    raise InvalidRequest(
        f"{where}: a {kind!r} part cannot be sent to OpenAI's Responses API",
        param=where,
        code="unsupported_content",
    )


_FILE_FIELDS = ("file_data", "file_url", "file_id", "filename")


# --- the answer ----------------------------------------------------------------------------


def parse_responses_answer(data: Any, model: str) -> ChatResponse:
    """A ``response`` object as a chat answer: message text, function calls (their
    ``call_id`` as the id), reasoning summaries; the upstream body kept as the native one."""
    if not isinstance(data, dict) or not isinstance(data.get("output"), list):
        raise KeyError("output")
    text: list[str] = []
    reasoning: list[str] = []
    calls: list[dict[str, Any]] = []
    for item in data["output"]:
        kind = item.get("type")
        if kind == "message":
            text += [_part_text(p) for p in item.get("content") or []]
        elif kind == "reasoning":
            reasoning += [str(s.get("text", "")) for s in item.get("summary") or []]
        elif kind == "function_call":
            function = {"name": item["name"], "arguments": item.get("arguments") or ""}
            calls.append({"id": item["call_id"], "type": "function", "function": function})
    message = {
        "role": "assistant",
        "content": "".join(text) if text or not calls else None,
        "tool_calls": calls or None,
        "reasoning_content": "\n\n".join(filter(None, reasoning)) or None,
    }
    response = ChatResponse.model_validate(
        {
            "id": data.get("id") or "",
            "created": data.get("created_at") or 0,
            "model": model,
            "choices": [{"message": message, "finish_reason": finish_of(data, bool(calls))}],
            "usage": usage_of(data.get("usage")),
        }
    )
    return response.with_native(NativeBody(format=RESPONSES_FORMAT, body=data))


def _part_text(part: dict[str, Any]) -> str:
    if part.get("type") == "refusal":
        return str(part.get("refusal", ""))
    return str(part.get("text", "")) if part.get("type") == "output_text" else ""


def finish_of(data: dict[str, Any], called: bool) -> FinishReason:
    """``length`` for an answer cut by ``max_output_tokens``; ``tool_calls`` when it calls."""
    if data.get("status") == "incomplete":
        reason = (data.get("incomplete_details") or {}).get("reason")
        return INCOMPLETE.get(str(reason), "length")
    return "tool_calls" if called else "stop"


def usage_of(raw: Any) -> Usage | None:
    """Responses usage with its cached-input and reasoning-output details."""
    if not isinstance(raw, dict):
        return None
    inputs = raw.get("input_tokens_details") or {}
    outputs = raw.get("output_tokens_details") or {}
    return Usage.of(
        _count(raw.get("input_tokens")),
        _count(raw.get("output_tokens")),
        cached=_count(inputs.get("cached_tokens")),
        reasoning=_count(outputs.get("reasoning_tokens")),
    )


def _count(value: Any) -> int:
    return int(value) if isinstance(value, int | float) else 0


# --- the stream ----------------------------------------------------------------------------


def stream_error(data: dict[str, Any]) -> tuple[int, bytes] | None:
    """An ``error`` event's or a ``response.failed`` event's error as (the status its code
    stands for, OpenAI's error body) for the adapter's error reader; ``None`` for any other
    event."""
    kind = data.get("type")
    if kind == "error":
        error = {k: data.get(k) for k in ("message", "code", "param")}
    elif kind == "response.failed":
        error = dict((data.get("response") or {}).get("error") or {})
        error.setdefault("message", "the response failed")
    else:
        return None
    if error.get("code") is None:
        error["code"] = "server_error"
    return STREAM_ERROR_STATUS.get(str(error["code"]), 502), json.dumps({"error": error}).encode()


class ResponsesStream(StreamState):
    """What one Responses stream has seen: which function call is which chunk index, and
    whether the stream got as far as ``response.completed`` (or ``response.incomplete``).

    Built-in tool progress (``response.web_search_call.*``...) and annotations carry no
    chat chunk, so they are not relayed."""

    def __init__(self, model: str) -> None:
        self.chunks = ChunkFactory(model)
        self.started = False
        self.calls: dict[str, int] = {}
        self.finished = False

    def feed(self, data: dict[str, Any]) -> list[ChatChunk]:
        """The chunks one event makes (most make none)."""
        chunks = self._chunks(data)
        if chunks and not self.started:
            self.started = True
            chunks.insert(0, self.chunks.role())
        return chunks

    def _chunks(self, data: dict[str, Any]) -> list[ChatChunk]:
        kind = data.get("type")
        if kind == "response.output_text.delta" and data.get("delta"):
            return [self.chunks.text(str(data["delta"]))]
        if kind == "response.reasoning_summary_text.delta" and data.get("delta"):
            return [self.chunks.reasoning(str(data["delta"]))]
        if kind == "response.reasoning_summary_part.added" and data.get("summary_index"):
            return [self.chunks.reasoning("\n\n")]  # summary parts, as they are joined
        if kind == "response.output_item.added":
            return self._call(data.get("item") or {})
        if kind == "response.function_call_arguments.delta":
            index = self.calls.get(str(data.get("item_id")))
            if index is None or not data.get("delta"):
                return []
            return [self.chunks.tool_call(index, arguments=str(data["delta"]))]
        if kind in ("response.completed", "response.incomplete"):
            return self._finish(data.get("response") or {})
        return []

    def _call(self, item: dict[str, Any]) -> list[ChatChunk]:
        if item.get("type") != "function_call":
            return []
        index = self.calls[str(item.get("id"))] = len(self.calls)
        chunk = self.chunks.tool_call(
            index,
            call_id=str(item["call_id"]),
            name=str(item["name"]),
            arguments=str(item.get("arguments") or ""),
        )
        return [chunk]

    def _finish(self, response: dict[str, Any]) -> list[ChatChunk]:
        self.finished = self.done = True
        finish = self.chunks.finish(finish_of(response, bool(self.calls)))
        usage = usage_of(response.get("usage")) or Usage()
        last = ChatChunk(
            id=self.chunks.id, created=self.chunks.created, model=self.chunks.model, usage=usage
        )
        return [finish, last]
