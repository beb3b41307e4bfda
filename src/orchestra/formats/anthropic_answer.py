"""Anthropic Messages, answers out: the internal answer as an Anthropic message."""

from __future__ import annotations

import json
import os
from typing import Any

from orchestra.formats.anthropic import FORMAT
from orchestra.schemas.chat import ChatResponse, Usage

#: OpenAI finish reasons as Anthropic stop reasons
STOP_REASONS = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "content_filter": "refusal",
}


# --- response ------------------------------------------------------------------------


def render_message(response: ChatResponse, model_id: str) -> dict[str, Any]:
    """The answer as an Anthropic message; an Anthropic upstream's own body, as it came
    (only ``model`` renamed to the gateway's id)."""
    native = response.native
    if native is not None and native.format == FORMAT:
        return {**native.body, "model": model_id}
    message = response.choices[0].message if response.choices else None
    content: list[dict[str, Any]] = []
    finish = response.choices[0].finish_reason if response.choices else "stop"
    if message is not None:
        content.extend(message.thinking_blocks or [])
        if message.content:
            content.append({"type": "text", "text": message.content})
        for call in message.tool_calls or []:
            arguments = _arguments(call.function.arguments)
            content.append(
                {"type": "tool_use", "id": call.id, "name": call.function.name, "input": arguments}
            )
    return {
        "id": message_id(response.id),
        "type": "message",
        "role": "assistant",
        "model": model_id,
        "content": content,
        "stop_reason": STOP_REASONS.get(finish or "stop", "end_turn"),
        "stop_sequence": None,
        "usage": render_usage(response.usage or Usage()),
    }


def thinking_unsigned(response: ChatResponse) -> bool:
    """Whether the answer reasoned without signed blocks (its thinking is left out)."""
    message = response.choices[0].message if response.choices else None
    return bool(message and message.reasoning_content and not message.thinking_blocks)


def render_usage(usage: Usage) -> dict[str, int]:
    """Anthropic's usage: ``input_tokens`` excludes cache reads and writes."""
    cached, written = usage.cached_tokens, usage.cache_creation_tokens
    return {
        "input_tokens": max(usage.prompt_tokens - cached - written, 0),
        "output_tokens": usage.completion_tokens,
        "cache_read_input_tokens": cached,
        "cache_creation_input_tokens": written,
    }


def message_id(completion_id: str | None) -> str:
    if completion_id and completion_id.startswith("msg_"):
        return completion_id
    return f"msg_{os.urandom(12).hex()}"


def _arguments(arguments: str) -> Any:
    try:
        value = json.loads(arguments) if arguments.strip() else {}
    except ValueError:
        return {"_raw": arguments}
    return value if isinstance(value, dict) else {"value": value}
