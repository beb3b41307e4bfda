"""OpenAI chat to and from Amazon Bedrock Converse JSON: the request body, the answer, and
the AWS error types as typed errors.

Pure functions, tested directly against recorded payloads; the transport (SigV4 over httpx)
is in :mod:`orchestra.providers.bedrock`, the stream in :mod:`orchestra.providers.bedrock_stream`.
"""

from __future__ import annotations

import json
import re
from typing import Any

import httpx

from orchestra.providers.wire import ErrorReading, alternating_turns, image_url, json_object
from orchestra.schemas.chat import ChatMessage, ChatRequest, ChatResponse, FinishReason, Usage
from orchestra.transport.http import error_message, json_or_none, parse_retry_after

STOP_REASONS: dict[str, FinishReason] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "guardrail_intervened": "content_filter",
    "content_filtered": "content_filter",
}
#: AWS error types (``x-amzn-ErrorType``, a stream's ``:exception-type``) by HTTP status
_KINDS = {
    429: "ThrottlingException",
    503: "ServiceUnavailableException ModelNotReadyException",
    408: "ModelTimeoutException",
    500: "InternalServerException ModelErrorException ModelStreamErrorException",
    403: "AccessDeniedException UnrecognizedClientException ExpiredTokenException",
    404: "ResourceNotFoundException",
    400: "ValidationException",
}
ERROR_STATUS = {kind.lower(): status for status, kinds in _KINDS.items() for kind in kinds.split()}
#: how a ValidationException says the prompt does not fit the model's window
CONTEXT_PHRASES = re.compile(
    r"input is too long|too many input tokens|prompt is too long|maximum context length|"
    r"exceeds? (the )?context (limit|window)|context window",
    re.IGNORECASE,
)
#: how a ValidationException says this model id cannot be called (another candidate may be)
MODEL_ID_PHRASES = re.compile(
    r"model identifier is invalid|on-demand throughput isn.t supported", re.IGNORECASE
)
IMAGE_FORMATS = {"png": "png", "jpeg": "jpeg", "jpg": "jpeg", "gif": "gif", "webp": "webp"}
_DATA_URL = re.compile(r"^data:image/(?P<fmt>[\w.+-]+);base64,(?P<data>.+)$", re.DOTALL)


class UnsupportedContent(ValueError):
    """A request part Converse cannot take (remote image URLs, unknown image formats)."""


def to_body(request: ChatRequest) -> dict[str, Any]:
    """The Converse request body (the model id travels in the URL, not here)."""
    body: dict[str, Any] = {"messages": to_messages(request.messages)}
    system = [{"text": m.text()} for m in request.messages if m.role in ("system", "developer")]
    if system := [block for block in system if block["text"]]:
        body["system"] = system
    config = {
        "maxTokens": request.output_limit(),
        "temperature": request.temperature,
        "topP": request.top_p,
        "stopSequences": request.stop_list() or None,
    }
    if config := {k: v for k, v in config.items() if v is not None}:
        body["inferenceConfig"] = config
    if tool_config := _tool_config(request, body["messages"]):
        body["toolConfig"] = tool_config
    return body


def to_messages(messages: list[ChatMessage]) -> list[dict[str, Any]]:
    """Alternating user/assistant turns: tool results become user turns, runs are merged."""
    return alternating_turns(messages, _blocks)


def _blocks(message: ChatMessage) -> list[dict[str, Any]]:
    if message.role in ("tool", "function"):
        result = {"toolUseId": message.tool_call_id or "", "content": [{"text": message.text()}]}
        return [{"toolResult": result}]
    blocks = _content_blocks(message)
    for call in message.tool_calls or []:
        tool_use = {
            "toolUseId": call.id,
            "name": call.function.name,
            "input": json_object(call.function.arguments),
        }
        blocks.append({"toolUse": tool_use})
    return blocks


def _content_blocks(message: ChatMessage) -> list[dict[str, Any]]:
    if isinstance(message.content, str):
        return [{"text": message.content}] if message.content else []
    blocks: list[dict[str, Any]] = []
    for part in message.content or []:
        if part.get("type") == "text" and part.get("text"):
            blocks.append({"text": part["text"]})
        elif part.get("type") == "image_url":
            blocks.append({"image": _image(part.get("image_url"))})
    return blocks


def _image(image: Any) -> dict[str, Any]:
    """Converse takes image bytes (base64 in JSON), never a URL to fetch."""
    match = _DATA_URL.match(image_url(image))
    if match is None:
        raise UnsupportedContent("Bedrock accepts images only as base64 data: URLs")
    fmt = IMAGE_FORMATS.get(match["fmt"].lower())
    if fmt is None:
        raise UnsupportedContent(f"Bedrock does not accept image/{match['fmt']} images")
    return {"format": fmt, "source": {"bytes": match["data"]}}


def _tool_config(request: ChatRequest, turns: list[dict[str, Any]]) -> dict[str, Any] | None:
    # a history with toolUse/toolResult blocks is rejected unless toolConfig is present
    history = any("toolUse" in b or "toolResult" in b for t in turns for b in t["content"])
    if not request.tools or (request.tool_choice == "none" and not history):
        return None
    tools = []
    for tool in request.tools:
        function = tool.get("function") or {}
        schema = function.get("parameters") or {"type": "object", "properties": {}}
        spec: dict[str, Any] = {"name": function.get("name", ""), "inputSchema": {"json": schema}}
        if function.get("description"):
            spec["description"] = function["description"]
        tools.append({"toolSpec": spec})
    config: dict[str, Any] = {"tools": tools}
    choice = request.tool_choice
    if isinstance(choice, dict) and (choice.get("function") or {}).get("name"):
        config["toolChoice"] = {"tool": {"name": choice["function"]["name"]}}
    elif choice in ("auto", "required"):
        config["toolChoice"] = {"auto": {}} if choice == "auto" else {"any": {}}
    return config


def parse_usage(raw: Any) -> Usage:
    """Cached prompt tokens are reported apart from ``inputTokens``: the prompt is all three."""
    raw = raw if isinstance(raw, dict) else {}
    prompt = sum(
        int(raw.get(k) or 0)
        for k in ("inputTokens", "cacheReadInputTokens", "cacheWriteInputTokens")
    )
    return Usage.of(prompt, int(raw.get("outputTokens") or 0))


def parse_response(body: Any, model: str) -> ChatResponse:
    """A Converse answer into a :class:`ChatResponse` (reasoning blocks are dropped)."""
    if not isinstance(body, dict):
        raise TypeError("response is not an object")
    content = body["output"]["message"]["content"]
    text = "".join(b["text"] for b in content if "text" in b)
    calls = [
        {
            "id": b["toolUse"]["toolUseId"],
            "type": "function",
            "function": {
                "name": b["toolUse"]["name"],
                "arguments": json.dumps(b["toolUse"].get("input") or {}),
            },
        }
        for b in content
        if "toolUse" in b
    ]
    reason = STOP_REASONS.get(body.get("stopReason") or "", "stop")
    message = {"content": text or None, "tool_calls": calls or None}
    return ChatResponse.model_validate(
        {
            "model": model,
            "choices": [{"message": message, "finish_reason": reason}],
            "usage": parse_usage(body.get("usage")),
        }
    )


def read_error(kind: str | None, status: int, headers: httpx.Headers, raw: bytes) -> ErrorReading:
    """``kind`` is the AWS error type (header or stream exception), ``status`` the HTTP one.

    The type decides; without one (proxies, recorders strip ``x-`` headers) the status does.
    """
    kind = (kind or "").split(":", 1)[0].strip()
    status = ERROR_STATUS.get(kind.lower(), status if status >= 400 else 500)
    message = error_message(json_or_none(raw), kind or f"HTTP {status}")
    if status == 400 and MODEL_ID_PHRASES.search(message):
        status = 404  # an id this account cannot call: the next candidate may still serve
    too_long = status == 400 and bool(CONTEXT_PHRASES.search(message))
    return ErrorReading(status, message, kind or None, too_long, parse_retry_after(headers))
