"""OpenAI chat to and from Amazon Bedrock Converse JSON: the request body, the answer, and
the AWS error types as typed errors.

Pure functions, tested directly against recorded payloads; the transport (SigV4 over httpx)
is in :mod:`orchestra.providers.bedrock`, the stream in :mod:`orchestra.providers.bedrock_stream`.
Structured output (``response_format``) is asked for with a reserved tool or a system
instruction (:mod:`orchestra.providers.json_tool`).
"""

from __future__ import annotations

import json
import re
from typing import Any

import httpx

from orchestra.providers.anthropic_request import max_tokens, thinking_config, thinking_enabled
from orchestra.providers.bedrock_content import (
    CACHE_POINT,
    ModelTraits,
    content_blocks,
    parse_reasoning,
    reasoning_blocks,
)
from orchestra.providers.json_tool import DESCRIPTION, JSON_TOOL, JsonPlan, plan
from orchestra.providers.wire import (
    ErrorReading,
    UnsupportedContent,
    alternating_turns,
    json_object,
)
from orchestra.schemas.chat import ChatMessage, ChatRequest, ChatResponse, FinishReason, Usage
from orchestra.transport.http import error_message, json_or_none, parse_retry_after

__all__ = ["UnsupportedContent", "parse_response", "parse_usage", "read_error", "to_body"]

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
#: a model that takes nothing beyond plain Converse
PLAIN = ModelTraits()


def to_body(request: ChatRequest, model: str = "") -> dict[str, Any]:
    """The Converse request body (the model id travels in the URL; its family decides
    thinking, reasoning blocks and cache points: :class:`ModelTraits`)."""
    traits = ModelTraits.of(model)
    thinking = thinking_config(request) if traits.claude else None
    thinking_on = thinking_enabled(thinking)
    json_plan = plan(request, thinking_on=thinking_on)
    body: dict[str, Any] = {"messages": to_messages(request.messages, traits)}
    if json_plan is not None and json_plan.instruction:
        body["system"] = [*_system(request.messages, traits), {"text": json_plan.instruction}]
    elif system := _system(request.messages, traits):
        body["system"] = system
    config = {
        "maxTokens": max_tokens(request, thinking) if thinking_on else request.output_limit(),
        "temperature": None if thinking_on else request.temperature,
        "topP": request.top_p,
        "stopSequences": request.stop_list() or None,
    }
    if config := {k: v for k, v in config.items() if v is not None}:
        body["inferenceConfig"] = config
    if thinking is not None:
        body["additionalModelRequestFields"] = {"thinking": thinking}
    if tool_config := _tool_config(request, body["messages"], traits, json_plan):
        body["toolConfig"] = tool_config
    return body


def _system(messages: list[ChatMessage], traits: ModelTraits) -> list[dict[str, Any]]:
    system: list[dict[str, Any]] = []
    for message in messages:
        if message.role not in ("system", "developer") or not (text := message.text()):
            continue
        system.append({"text": text})
        parts = message.content if isinstance(message.content, list) else []
        if traits.caching and any("cache_control" in p for p in parts):
            system.append(CACHE_POINT)
    return system


def to_messages(messages: list[ChatMessage], traits: ModelTraits = PLAIN) -> list[dict[str, Any]]:
    """Alternating user/assistant turns: tool results become user turns, runs are merged."""
    where = {id(m): f"messages[{i}]" for i, m in enumerate(messages)}
    return alternating_turns(messages, lambda m: _blocks(m, where[id(m)], traits))


def _blocks(message: ChatMessage, where: str, traits: ModelTraits) -> list[dict[str, Any]]:
    if message.role in ("tool", "function"):
        return _tool_result(message, where, traits)
    blocks: list[dict[str, Any]] = []
    if message.role == "assistant" and traits.claude:
        blocks += reasoning_blocks(message)  # first: Claude checks them before the rest
    blocks += content_blocks(message, where, traits)
    for call in message.tool_calls or []:
        tool_use = {
            "toolUseId": call.id,
            "name": call.function.name,
            "input": json_object(call.function.arguments),
        }
        blocks.append({"toolUse": tool_use})
    return blocks


def _tool_result(message: ChatMessage, where: str, traits: ModelTraits) -> list[dict[str, Any]]:
    content: list[dict[str, Any]] = [{"text": message.text()}]
    cached = False
    if isinstance(message.content, list):
        content = [b for b in content_blocks(message, where, traits) if "cachePoint" not in b]
        cached = traits.caching and any("cache_control" in p for p in message.content)
    result: dict[str, Any] = {"toolUseId": message.tool_call_id or "", "content": content}
    if traits.claude and (message.model_extra or {}).get("is_error"):
        result["status"] = "error"
    return [{"toolResult": result}, CACHE_POINT] if cached else [{"toolResult": result}]


def _tool_config(
    request: ChatRequest,
    turns: list[dict[str, Any]],
    traits: ModelTraits,
    json_plan: JsonPlan | None = None,
) -> dict[str, Any] | None:
    # a history with toolUse/toolResult blocks is rejected unless toolConfig is present
    history = any("toolUse" in b or "toolResult" in b for t in turns for b in t["content"])
    wanted = bool(request.tools) and (request.tool_choice != "none" or history)
    tools = _tools(request, traits) if wanted else []
    if json_plan is not None and json_plan.schema is not None:
        spec = {
            "name": JSON_TOOL,
            "description": DESCRIPTION,
            "inputSchema": {"json": json_plan.schema},
        }
        forced = {"tool": {"name": JSON_TOOL}}
        json_choice = forced if json_plan.forced else {"auto": {}}
        return {"tools": [*tools, {"toolSpec": spec}], "toolChoice": json_choice}
    if not tools:
        return None
    config: dict[str, Any] = {"tools": tools}
    choice = request.tool_choice
    if isinstance(choice, dict) and (choice.get("function") or {}).get("name"):
        config["toolChoice"] = {"tool": {"name": choice["function"]["name"]}}
    elif choice in ("auto", "required"):
        config["toolChoice"] = {"auto": {}} if choice == "auto" else {"any": {}}
    return config


def _tools(request: ChatRequest, traits: ModelTraits) -> list[dict[str, Any]]:
    tools: list[dict[str, Any]] = []
    for tool in request.tools or []:
        function = tool.get("function") or {}
        schema = function.get("parameters") or {"type": "object", "properties": {}}
        spec: dict[str, Any] = {"name": function.get("name", ""), "inputSchema": {"json": schema}}
        if function.get("description"):
            spec["description"] = function["description"]
        tools.append({"toolSpec": spec})
        if traits.caching and "cache_control" in tool:
            tools.append(CACHE_POINT)
    return tools


def parse_usage(raw: Any) -> Usage:
    """Cached prompt tokens are reported apart from ``inputTokens``: the prompt is all three."""
    raw = raw if isinstance(raw, dict) else {}
    read = int(raw.get("cacheReadInputTokens") or 0)
    written = int(raw.get("cacheWriteInputTokens") or 0)
    prompt = int(raw.get("inputTokens") or 0) + read + written
    return Usage.of(prompt, int(raw.get("outputTokens") or 0), cached=read, cache_creation=written)


def parse_response(body: Any, model: str) -> ChatResponse:
    """A Converse answer into a :class:`ChatResponse`; reasoning blocks become the reasoning
    text and (signed or redacted, Claude's) ``thinking_blocks``."""
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
    reasoning, thinking = parse_reasoning(content)
    message = {
        "content": text or None,
        "tool_calls": calls or None,
        "reasoning_content": reasoning or None,
        "thinking_blocks": thinking or None,
    }
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
