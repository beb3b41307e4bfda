"""Anthropic Messages answers as OpenAI chat completions, and its errors as readings.

``thinking`` and ``redacted_thinking`` blocks are kept verbatim as ``thinking_blocks`` (the
client sends them back on its next turn) and the thinking text as ``reasoning_content``;
the prompt count includes cache reads and writes, which the usage details break out. The
vendor's own body is attached as the response's native body, for an Anthropic client.
"""

from __future__ import annotations

import json
import re
from typing import Any

import httpx

from orchestra.providers.wire import ErrorReading
from orchestra.schemas.chat import ChatResponse, FinishReason, NativeBody, Usage
from orchestra.transport.http import error_message, json_or_none, parse_retry_after

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
THINKING_TYPES = ("thinking", "redacted_thinking")


def parse_usage(raw: Any) -> Usage:
    """``input_tokens`` leaves out cache reads and writes: the prompt is all three."""
    raw = raw if isinstance(raw, dict) else {}
    read = int(raw.get("cache_read_input_tokens") or 0)
    written = int(raw.get("cache_creation_input_tokens") or 0)
    prompt = int(raw.get("input_tokens") or 0) + read + written
    return Usage.of(prompt, int(raw.get("output_tokens") or 0), cached=read, cache_creation=written)


def parse_response(body: Any, model: str) -> ChatResponse:
    if not isinstance(body, dict) or not isinstance(body.get("content"), list):
        raise KeyError("content")
    blocks = body["content"]
    text = "".join(b.get("text", "") for b in blocks if b.get("type") == "text")
    calls = [
        {
            "id": b["id"],
            "type": "function",
            "function": {"name": b["name"], "arguments": json.dumps(b.get("input") or {})},
        }
        for b in blocks
        if b.get("type") == "tool_use"
    ]
    thinking = [b for b in blocks if b.get("type") in THINKING_TYPES]
    reasoning = "".join(str(b.get("thinking") or "") for b in thinking)
    message = {
        "content": text or None,
        "tool_calls": calls or None,
        "reasoning_content": reasoning or None,
        "thinking_blocks": thinking or None,
    }
    response = ChatResponse.model_validate(
        {
            "id": body.get("id") or "",
            "model": model,
            "choices": [
                {
                    "message": message,
                    "finish_reason": STOP_REASONS.get(body.get("stop_reason") or "", "stop"),
                }
            ],
            "usage": parse_usage(body.get("usage")),
        }
    )
    return response.with_native(NativeBody(format="anthropic", body=body))


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
