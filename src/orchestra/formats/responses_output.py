"""The Responses answer: the ``response`` object, its output items and usage, and the
record kept for ``previous_response_id`` (the conversation as chat messages)."""

from __future__ import annotations

import os
from typing import Any

from orchestra.formats.responses import ResponsesRequest
from orchestra.schemas.chat import (
    AssistantMessage,
    ChatMessage,
    ChatResponse,
    FunctionCall,
    ToolCall,
    Usage,
)

#: chat finish reasons that leave a Responses answer incomplete, and why
INCOMPLETE = {"length": "max_output_tokens", "content_filter": "content_filter"}


def new_id(prefix: str) -> str:
    """An id in OpenAI's style: ``resp_...``, ``msg_...``, ``fc_...``, ``rs_...``."""
    return f"{prefix}_{os.urandom(16).hex()}"


def message_item(text: str, *, item_id: str, status: str = "completed") -> dict[str, Any]:
    content = [{"type": "output_text", "text": text, "annotations": [], "logprobs": []}]
    return {
        "type": "message",
        "id": item_id,
        "role": "assistant",
        "status": status,
        "content": content,
    }


def reasoning_item(text: str, *, item_id: str) -> dict[str, Any]:
    summary = [{"type": "summary_text", "text": text}] if text else []
    return {"type": "reasoning", "id": item_id, "summary": summary}


def function_call_item(
    call_id: str, name: str, arguments: str, *, item_id: str, status: str = "completed"
) -> dict[str, Any]:
    return {
        "type": "function_call",
        "id": item_id,
        "call_id": call_id,
        "name": name,
        "arguments": arguments,
        "status": status,
    }


def output_items(message: AssistantMessage, finish_reason: str | None) -> list[dict[str, Any]]:
    """The answer as output items: reasoning (if any), the message, the function calls."""
    items = []
    if message.reasoning_content:
        items.append(reasoning_item(message.reasoning_content, item_id=new_id("rs")))
    if message.content or not message.tool_calls:
        status = "incomplete" if finish_reason in INCOMPLETE else "completed"
        items.append(message_item(message.content or "", item_id=new_id("msg"), status=status))
    for call in message.tool_calls or []:
        function = call.function
        items.append(
            function_call_item(call.id, function.name, function.arguments, item_id=new_id("fc"))
        )
    return items


def usage_body(usage: Usage | None) -> dict[str, Any] | None:
    if usage is None:
        return None
    return {
        "input_tokens": usage.prompt_tokens,
        "input_tokens_details": {
            "cached_tokens": usage.cached_tokens,
            "cache_write_tokens": usage.cache_creation_tokens,
        },
        "output_tokens": usage.completion_tokens,
        "output_tokens_details": {"reasoning_tokens": usage.reasoning_tokens},
        "total_tokens": usage.total_tokens,
    }


def response_body(
    request: ResponsesRequest,
    *,
    response_id: str,
    created_at: int,
    model: str,
    output: list[dict[str, Any]],
    status: str = "completed",
    finish_reason: str | None = None,
    usage: Usage | None = None,
    error: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The ``response`` object, the request's settings echoed as OpenAI echoes them."""
    reason = INCOMPLETE.get(finish_reason or "")
    if reason is not None and status == "completed":
        status = "incomplete"
    reasoning = request.reasoning or {}
    return {
        "id": response_id,
        "object": "response",
        "created_at": created_at,
        "status": status,
        "background": False,
        "error": error,
        "incomplete_details": {"reason": reason} if status == "incomplete" else None,
        "instructions": request.instructions,
        "max_output_tokens": request.max_output_tokens,
        "metadata": request.metadata or {},
        "model": model,
        "output": output,
        "parallel_tool_calls": request.parallel_tool_calls is not False,
        "previous_response_id": request.previous_response_id,
        "reasoning": {"effort": reasoning.get("effort"), "summary": reasoning.get("summary")},
        "store": request.store,
        "temperature": 1.0 if request.temperature is None else request.temperature,
        "text": request.text or {"format": {"type": "text"}},
        "tool_choice": request.tool_choice or "auto",
        "tools": request.tools or [],
        "top_p": 1.0 if request.top_p is None else request.top_p,
        "truncation": "disabled",
        "usage": usage_body(usage),
        "user": (request.model_extra or {}).get("user"),
    }


def rendered(
    request: ResponsesRequest, answer: ChatResponse, *, model: str, response_id: str
) -> dict[str, Any]:
    """A whole (not streamed) chat answer as the ``response`` object."""
    choice = answer.choices[0]
    return response_body(
        request,
        response_id=response_id,
        created_at=answer.created,
        model=model,
        output=output_items(choice.message, choice.finish_reason),
        finish_reason=choice.finish_reason,
        usage=answer.usage,
    )


def upstream_rendered(
    request: ResponsesRequest,
    upstream: dict[str, Any],
    *,
    model: str,
    response_id: str,
    created_at: int,
) -> dict[str, Any]:
    """An OpenAI upstream's own ``response`` object (its output items as they came: built-in
    tool calls such as ``web_search_call``, citations, reasoning items) as the gateway's:
    the id, model and creation time are the gateway's, and the fields the gateway rewrote
    on the way up (``store``, ``previous_response_id``, ``instructions``) are the client's."""
    return {
        **upstream,
        "id": response_id,
        "model": model,
        "created_at": created_at,
        "store": request.store,
        "previous_response_id": request.previous_response_id,
        "instructions": request.instructions,
    }


def assistant_turn(message: AssistantMessage) -> ChatMessage:
    """The answer as the conversation's next message (kept for the next turn)."""
    return ChatMessage(
        role="assistant",
        content=message.content,
        tool_calls=message.tool_calls,
        reasoning_content=message.reasoning_content,
        thinking_blocks=message.thinking_blocks,
    )


def record(body: dict[str, Any], conversation: list[ChatMessage]) -> dict[str, Any]:
    """What is stored under the response's id: the object, and the conversation so far
    (every turn's input and output; never ``instructions``, which stay with their turn)."""
    messages = [m.model_dump(exclude_none=True) for m in conversation]
    return {"response": body, "messages": messages}


def history(stored: dict[str, Any]) -> list[ChatMessage]:
    return [ChatMessage.model_validate(m) for m in stored.get("messages", [])]


def tool_call(call_id: str, name: str, arguments: str) -> ToolCall:
    return ToolCall(id=call_id, function=FunctionCall(name=name, arguments=arguments))
