"""OpenAI chat requests as Anthropic Messages bodies (``POST /v1/messages``).

System and developer messages become ``system`` (a plain string, or text blocks when a part
carries ``cache_control``); tool results become ``tool_result`` blocks in a user turn;
consecutive same-role turns are merged (the API requires alternation); an assistant turn's
``thinking_blocks`` go back first, verbatim, before its text and ``tool_use`` blocks (its
``reasoning_content`` alone, unsigned, cannot go back and is dropped).

Extended thinking: ``thinking`` is sent as given; without it, ``reasoning_effort`` turns
thinking on with a budget (:data:`EFFORT_BUDGETS`: low 1024, medium 4096, high 16384;
"minimal", "none" and unknown efforts leave thinking off). With thinking on, ``max_tokens``
is raised to the budget plus the requested output when it is not above the budget, and
``temperature`` and ``top_k`` are dropped (the API refuses them with thinking).

Structured output (``response_format``) goes as a reserved tool or a system instruction
(:mod:`~orchestra.providers.json_tool`).

A request that came in as an Anthropic body (``request.native``) is sent as the client sent
it, with only ``model`` and ``stream`` set: fields the gateway does not know pass through.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from orchestra.providers.json_tool import (
    DESCRIPTION,
    JSON_TOOL,
    JsonPlan,
    plan,
    with_instruction,
)
from orchestra.providers.wire import (
    DATA_URL,
    UnsupportedContent,
    alternating_turns,
    image_url,
    json_object,
)
from orchestra.schemas.chat import ChatMessage, ChatRequest, NativeBody

DEFAULT_MAX_TOKENS = 4096
#: ``reasoning_effort`` -> thinking budget (tokens) when no ``thinking`` is given
EFFORT_BUDGETS = {"low": 1024, "medium": 4096, "high": 16384}
#: the request extra field where an inbound format keeps the client's ``anthropic-beta``
BETA_FIELD = "anthropic_beta"
_SYSTEM_ROLES = ("system", "developer")


def to_body(request: ChatRequest, model: str, *, stream: bool) -> dict[str, Any]:
    """The Messages body for ``request`` (the client's own body when it came as one)."""
    native = request.native
    if native is not None and native.format == "anthropic":
        return native_body(native, model, stream=stream)
    thinking = thinking_config(request)
    body: dict[str, Any] = {
        "model": model,
        "max_tokens": max_tokens(request, thinking),
        "messages": to_messages(request.messages),
    }
    if (system := to_system(request.messages)) is not None:
        body["system"] = system
    if thinking is not None:
        body["thinking"] = thinking
    body.update(_sampling(request, thinking_on=thinking_enabled(thinking)))
    if request.tools:
        body["tools"] = [_tool(t) for t in request.tools if t.get("type") == "function"]
        if (choice := _tool_choice(request)) is not None:
            body["tool_choice"] = choice
    if (json_plan := plan(request, thinking_on=thinking_enabled(thinking))) is not None:
        _ask_for_json(body, json_plan)
    user_id = (request.metadata or {}).get("user_id") or request.user
    if user_id:
        body["metadata"] = {"user_id": str(user_id)[:256]}
    if stream:
        body["stream"] = True
    return body


def native_body(native: NativeBody, model: str, *, stream: bool) -> dict[str, Any]:
    """The client's Anthropic body, every field kept, with the upstream model and ``stream``."""
    body = {k: v for k, v in native.body.items() if k not in ("stream", BETA_FIELD)}
    body["model"] = model
    if stream:
        body["stream"] = True
    return body


def beta_header(request: ChatRequest, configured: str | None) -> str | None:
    """The ``anthropic-beta`` header: the configured values, then the client's, once each."""
    values = [v.strip() for v in (configured or "").split(",") if v.strip()]
    extra = (request.model_extra or {}).get(BETA_FIELD)
    for value in [extra] if isinstance(extra, str) else extra or []:
        if isinstance(value, str) and value.strip() and value.strip() not in values:
            values.append(value.strip())
    return ",".join(values) or None


# --- thinking and sampling -----------------------------------------------------------


def thinking_config(request: ChatRequest) -> dict[str, Any] | None:
    """Anthropic's ``thinking`` object: the request's, else one made from its effort."""
    if request.thinking is not None:
        return dict(request.thinking)
    budget = EFFORT_BUDGETS.get((request.reasoning_effort or "").strip().lower())
    return {"type": "enabled", "budget_tokens": budget} if budget else None


def thinking_enabled(thinking: dict[str, Any] | None) -> bool:
    return thinking is not None and thinking.get("type") != "disabled"


def max_tokens(request: ChatRequest, thinking: dict[str, Any] | None) -> int:
    """The output limit; above the thinking budget, which counts against it."""
    wanted = request.output_limit() or DEFAULT_MAX_TOKENS
    budget = (thinking or {}).get("budget_tokens") if thinking_enabled(thinking) else None
    if isinstance(budget, int) and budget >= wanted:
        return budget + wanted
    return wanted


def _sampling(request: ChatRequest, *, thinking_on: bool) -> dict[str, Any]:
    sampling: dict[str, Any] = {}
    if request.temperature is not None and not thinking_on:
        sampling["temperature"] = min(request.temperature, 1.0)  # Anthropic's range is 0..1
    if request.top_p is not None:
        sampling["top_p"] = request.top_p
    if request.top_k is not None and not thinking_on:
        sampling["top_k"] = request.top_k
    if stops := request.stop_list():
        sampling["stop_sequences"] = stops
    return sampling


# --- messages ------------------------------------------------------------------------


def to_system(messages: list[ChatMessage]) -> str | list[dict[str, Any]] | None:
    """System and developer messages: one string, or text blocks if any part is cached."""
    system = [m for m in messages if m.role in _SYSTEM_ROLES]
    if not system:
        return None
    blocks = [block for m in system for block in _system_blocks(m)]
    if any("cache_control" in block for block in blocks):
        return blocks
    return "\n\n".join(m.text() for m in system)


def _system_blocks(message: ChatMessage) -> list[dict[str, Any]]:
    if isinstance(message.content, str):
        return [{"type": "text", "text": message.content}] if message.content else []
    blocks = []
    for part in message.content or []:
        if part.get("type") == "text" and part.get("text"):
            block = {"type": "text", "text": part["text"]}
            if "cache_control" in part:
                block["cache_control"] = part["cache_control"]
            blocks.append(block)
    return blocks


def to_messages(messages: list[ChatMessage]) -> list[dict[str, Any]]:
    where = {id(m): f"messages[{i}]" for i, m in enumerate(messages)}
    return alternating_turns(messages, lambda m: _blocks(m, where[id(m)]))


def _blocks(message: ChatMessage, where: str) -> list[dict[str, Any]]:
    if message.role in ("tool", "function"):
        return [_tool_result(message, where)]
    blocks: list[dict[str, Any]] = []
    if message.role == "assistant":
        blocks += [dict(block) for block in message.thinking_blocks or []]
    blocks += _content_blocks(message, where)
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


def _tool_result(message: ChatMessage, where: str) -> dict[str, Any]:
    result: dict[str, Any] = {
        "type": "tool_result",
        "tool_use_id": message.tool_call_id or message.name or "",
        "content": message.text(),
    }
    if isinstance(message.content, list) and (blocks := _content_blocks(message, where)):
        result["content"] = blocks
    if (message.model_extra or {}).get("is_error"):
        result["is_error"] = True
    return result


def _content_blocks(message: ChatMessage, where: str) -> list[dict[str, Any]]:
    if isinstance(message.content, str):
        return [{"type": "text", "text": message.content}] if message.content else []
    blocks: list[dict[str, Any]] = []
    for index, part in enumerate(message.content or []):
        param = f"{where}.content[{index}]"
        try:
            block = _part_block(part)
        except UnsupportedContent as exc:
            raise UnsupportedContent(f"{param}: {exc}", param) from exc
        if block is None:
            continue
        if "cache_control" in part:
            block["cache_control"] = part["cache_control"]
        blocks.append(block)
    return blocks


def _part_block(part: dict[str, Any]) -> dict[str, Any] | None:
    kind = part.get("type")
    if kind == "text":
        return {"type": "text", "text": part["text"]} if part.get("text") else None
    if kind == "image_url":
        return {"type": "image", "source": _image_source(part)}
    if kind == "file":
        return _document(part.get("file") or {})
    return None  # audio and unknown parts: Messages has no block for them


def _image_source(part: dict[str, Any]) -> dict[str, Any]:
    url = image_url(part.get("image_url"))
    if match := DATA_URL.match(url):
        return {"type": "base64", "media_type": match["mime"], "data": match["data"]}
    return {"type": "url", "url": url}


def _document(file: dict[str, Any]) -> dict[str, Any]:
    """A ``file`` part as a ``document`` block: a PDF (base64 or URL) or plain text."""
    if file.get("file_url"):
        source: dict[str, Any] = {"type": "url", "url": file["file_url"]}
    else:
        source = _document_source(str(file.get("file_data") or ""))
    block: dict[str, Any] = {"type": "document", "source": source}
    if file.get("filename"):
        block["title"] = str(file["filename"])
    return block


def _document_source(data: str) -> dict[str, Any]:
    match = DATA_URL.match(data)
    if match is None:
        raise UnsupportedContent("a file part needs file_data as a base64 data: URL or file_url")
    mime = match["mime"].lower()
    if mime == "application/pdf":
        return {"type": "base64", "media_type": mime, "data": match["data"]}
    if not mime.startswith("text/"):
        raise UnsupportedContent(f"Anthropic documents are PDF or text, not {mime}")
    try:
        text = base64.b64decode(match["data"], validate=True).decode("utf-8", errors="replace")
    except binascii.Error as exc:
        raise UnsupportedContent("a file part's file_data is not valid base64") from exc
    return {"type": "text", "media_type": "text/plain", "data": text}


# --- tools ---------------------------------------------------------------------------


def _tool(tool: dict[str, Any]) -> dict[str, Any]:
    function = tool.get("function") or {}
    spec: dict[str, Any] = {
        "name": function.get("name", ""),
        "input_schema": function.get("parameters") or {"type": "object", "properties": {}},
    }
    if function.get("description"):
        spec["description"] = function["description"]
    if "cache_control" in tool:
        spec["cache_control"] = tool["cache_control"]
    return spec


def _ask_for_json(body: dict[str, Any], json_plan: JsonPlan) -> None:
    """The reserved tool (forced, or "auto" with thinking) and the plan's instruction."""
    if json_plan.schema is not None:
        tool = {"name": JSON_TOOL, "description": DESCRIPTION, "input_schema": json_plan.schema}
        body["tools"] = [*body.get("tools", []), tool]
        forced = {"type": "tool", "name": JSON_TOOL}
        body["tool_choice"] = forced if json_plan.forced else {"type": "auto"}
    if json_plan.instruction:
        body["system"] = with_instruction(body.get("system"), json_plan.instruction)


def _tool_choice(request: ChatRequest) -> dict[str, Any] | None:
    choice = request.tool_choice
    mapped: dict[str, Any] | None = None
    if isinstance(choice, dict):
        name = (choice.get("function") or {}).get("name")
        mapped = {"type": "tool", "name": name} if name else None
    elif choice in ("auto", "required", "none"):
        mapped = {"type": {"auto": "auto", "required": "any", "none": "none"}[choice]}
    if (request.model_extra or {}).get("parallel_tool_calls") is False:
        mapped = mapped or {"type": "auto"}
        if mapped["type"] != "none":
            mapped["disable_parallel_tool_use"] = True
    return mapped
