"""Anthropic Messages, inbound: ``POST /v1/messages`` as Claude Code and the Anthropic SDK
send it, and the errors they expect back.

A request becomes the internal :class:`ChatRequest`: ``system`` a system message (text parts
keep their ``cache_control``), ``image`` blocks ``image_url`` parts, ``document`` blocks
``file`` parts, ``tool_use`` / ``tool_result`` blocks tool calls and ``tool`` messages,
``thinking`` / ``redacted_thinking`` history blocks ``thinking_blocks`` (verbatim). Blocks and
tools only Anthropic serves (server tools, web search results) are left out of the
translation; the client's whole body rides along as the request's native body, so an
Anthropic upstream still receives them. A malformed body is a 400 naming the field's path in
Anthropic's terms (``messages.1.content.0.source.media_type``). Answers out:
:mod:`.anthropic_answer` (whole) and :mod:`.anthropic_stream` (streamed).
"""

from __future__ import annotations

import base64
import json
from typing import Any

from pydantic import ValidationError

from orchestra.errors import InvalidRequest
from orchestra.formats.anthropic_checks import block_type as _block_type
from orchestra.formats.anthropic_checks import fail as _fail
from orchestra.formats.anthropic_checks import get as _get
from orchestra.formats.anthropic_checks import number as _number
from orchestra.formats.json_body import json_object
from orchestra.schemas.chat import ChatMessage, ChatRequest, NativeBody

FORMAT = "anthropic"
#: the HTTP statuses Anthropic answers with, by its error ``type``
ERROR_TYPES_BY_STATUS = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    422: "invalid_request_error",
    429: "rate_limit_error",
    504: "timeout_error",
    529: "overloaded_error",
}
IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})
#: the most stop sequences the internal request takes (OpenAI's limit)
MAX_STOP_SEQUENCES = 4
_TOOL_CHOICES = {"auto": "auto", "any": "required", "none": "none"}


def error_body(
    status: int, kind: str, code: str, message: str, param: str | None
) -> tuple[int, dict[str, Any]]:
    """Anthropic's error shape ``{"type": "error", "error": {"type", "message"}}`` and its
    status: every "overloaded" (503) is Anthropic's 529."""
    if status == 503:
        status = 529
    if status == 422:
        status = 400
    error_type = ERROR_TYPES_BY_STATUS.get(status, "api_error")
    return status, {"type": "error", "error": {"type": error_type, "message": message}}


# --- request -------------------------------------------------------------------------


def parse_request(raw: bytes) -> ChatRequest:
    """A ``POST /v1/messages`` body as the internal request (``max_tokens`` required)."""
    return _parse(raw, count_only=False)


def parse_count_request(raw: bytes) -> ChatRequest:
    """A ``POST /v1/messages/count_tokens`` body (no ``max_tokens``) as the internal request."""
    return _parse(raw, count_only=True)


def beta_flags(header_values: list[str]) -> list[str]:
    """The ``anthropic-beta`` header's flags (comma-separated, possibly repeated)."""
    return [flag.strip() for value in header_values for flag in value.split(",") if flag.strip()]


def _parse(raw: bytes, *, count_only: bool) -> ChatRequest:
    if not raw.strip():  # Anthropic calls an empty body invalid JSON
        raise InvalidRequest("Request body is empty: expected a JSON object", code="invalid_json")
    body = json_object(raw)
    fields = _request_fields(body, count_only=count_only)
    try:
        chat = ChatRequest.model_validate(fields)
    except ValidationError as exc:
        first = exc.errors()[0]
        path = ".".join(str(p) for p in first.get("loc", ()))
        _fail(path or "body", str(first.get("msg", "invalid value")))
    return chat.with_native(NativeBody(format=FORMAT, body=body))


def _request_fields(body: dict[str, Any], *, count_only: bool) -> dict[str, Any]:
    model = _get(body, "model", str)
    messages = _system(body.get("system")) + _messages(_get(body, "messages", list))
    fields: dict[str, Any] = {"model": model, "messages": messages}
    if not count_only:
        fields["max_tokens"] = _number(body, "max_tokens", int, low=1)
        fields["stream"] = _get(body, "stream", bool, required=False) or False
    for name, low, high in (("temperature", 0.0, 1.0), ("top_p", 0.0, 1.0)):
        if (
            value := _number(body, name, (int, float), low=low, high=high, required=False)
        ) is not None:
            fields[name] = value
    if (top_k := _number(body, "top_k", int, low=0, required=False)) is not None:
        fields["top_k"] = top_k
    if (stops := _stop_sequences(body)) is not None:
        fields["stop"] = stops
    fields.update(_metadata(body.get("metadata")))
    fields.update(_tools(body.get("tools"), body.get("tool_choice")))
    if (thinking := _get(body, "thinking", dict, required=False)) is not None:
        _get(thinking, "type", str, path="thinking")
        fields["thinking"] = thinking
    return fields


def _system(system: Any) -> list[ChatMessage]:
    if system is None or system == "":
        return []
    if isinstance(system, str):
        return [ChatMessage(role="system", content=system)]
    if not isinstance(system, list):
        _fail("system", "Input should be a valid string or a list of text blocks")
    parts = [_text_part(block, f"system.{i}") for i, block in enumerate(system)]
    if any("cache_control" in part for part in parts):
        return [ChatMessage(role="system", content=parts)]
    return [ChatMessage(role="system", content="\n\n".join(p["text"] for p in parts))]


def _messages(raw: list[Any]) -> list[ChatMessage]:
    if not raw:
        _fail("messages", "List should have at least 1 item")
    out: list[ChatMessage] = []
    for i, message in enumerate(raw):
        path = f"messages.{i}"
        if not isinstance(message, dict):
            _fail(path, "Input should be an object with role and content")
        role = _get(message, "role", str, path=path)
        content = message.get("content")
        if not isinstance(content, str | list):
            _fail(f"{path}.content", "Input should be a valid string or a list of blocks")
        if role == "user":
            out.extend(_user_turn(content, path))
        elif role == "assistant":
            out.append(_assistant_turn(content, path))
        else:
            _fail(f"{path}.role", "Input should be 'user' or 'assistant'")
    return out


def _user_turn(content: str | list[Any], path: str) -> list[ChatMessage]:
    if isinstance(content, str):
        return [ChatMessage(role="user", content=content)]
    out: list[ChatMessage] = []
    parts: list[dict[str, Any]] = []
    for i, block in enumerate(content):
        where = f"{path}.content.{i}"
        if _block_type(block, where) == "tool_result":
            if parts:
                out.append(ChatMessage(role="user", content=parts))
                parts = []
            out.append(_tool_result(block, where))
        elif (part := _user_part(block, where)) is not None:
            parts.append(part)
    if parts or not out:
        out.append(ChatMessage(role="user", content=parts))
    return out


def _user_part(block: dict[str, Any], path: str) -> dict[str, Any] | None:
    kind = block["type"]
    if kind == "text":
        return _text_part(block, path)
    if kind == "image":
        return _cached(block, {"type": "image_url", "image_url": {"url": _image_url(block, path)}})
    if kind == "document":
        return _cached(block, _document_part(block, path))
    return None  # Anthropic's own blocks (search results, server tool results): native only


def _text_part(block: Any, path: str) -> dict[str, Any]:
    if _block_type(block, path) != "text":
        _fail(f"{path}.type", "Input should be 'text'")
    return _cached(block, {"type": "text", "text": _get(block, "text", str, path=path)})


def _cached(block: dict[str, Any], part: dict[str, Any]) -> dict[str, Any]:
    if isinstance(block.get("cache_control"), dict):
        part["cache_control"] = block["cache_control"]
    return part


def _image_url(block: dict[str, Any], path: str) -> str:
    source = _get(block, "source", dict, path=path)
    kind = _get(source, "type", str, path=f"{path}.source")
    if kind == "url":
        return str(_get(source, "url", str, path=f"{path}.source"))
    if kind != "base64":
        _fail(f"{path}.source.type", "Input should be 'base64' or 'url'")
    media_type = _get(source, "media_type", str, path=f"{path}.source")
    if media_type not in IMAGE_TYPES:
        allowed = ", ".join(f"'{t}'" for t in sorted(IMAGE_TYPES))
        _fail(f"{path}.source.media_type", f"Input should be {allowed}")
    return f"data:{media_type};base64,{_get(source, 'data', str, path=f'{path}.source')}"


def _document_part(block: dict[str, Any], path: str) -> dict[str, Any]:
    source = _get(block, "source", dict, path=path)
    where = f"{path}.source"
    kind = _get(source, "type", str, path=where)
    file: dict[str, Any]
    if kind == "url":
        file = {"file_url": _get(source, "url", str, path=where)}
    elif kind == "base64":
        media_type = _get(source, "media_type", str, path=where)
        if media_type != "application/pdf":
            _fail(f"{where}.media_type", "Input should be 'application/pdf'")
        file = {"file_data": f"data:application/pdf;base64,{_get(source, 'data', str, path=where)}"}
    elif kind in ("text", "content"):
        text = (
            _get(source, "data", str, path=where)
            if kind == "text"
            else _content_text(source, where)
        )
        encoded = base64.b64encode(text.encode()).decode()
        file = {"file_data": f"data:text/plain;base64,{encoded}"}
    else:
        _fail(f"{where}.type", "Input should be 'base64', 'url', 'text' or 'content'")
    if isinstance(block.get("title"), str):
        file["filename"] = block["title"]
    return {"type": "file", "file": file}


def _content_text(source: dict[str, Any], path: str) -> str:
    content = source.get("content")
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        _fail(f"{path}.content", "Input should be a valid string or a list of blocks")
    return "\n\n".join(b["text"] for b in content if isinstance(b, dict) and "text" in b)


def _tool_result(block: dict[str, Any], path: str) -> ChatMessage:
    call_id = _get(block, "tool_use_id", str, path=path)
    content = block.get("content", "")
    if isinstance(content, list):
        content = [_result_part(b, f"{path}.content.{i}") for i, b in enumerate(content)]
    elif not isinstance(content, str):
        _fail(f"{path}.content", "Input should be a valid string or a list of blocks")
    message = ChatMessage(role="tool", tool_call_id=call_id, content=content)
    if block.get("is_error") is True:
        message.is_error = True  # type: ignore[attr-defined]  # an extra field by contract
    return message


def _result_part(block: Any, path: str) -> dict[str, Any]:
    part = _user_part({**block, "type": _block_type(block, path)}, path)
    if part is None:
        _fail(f"{path}.type", "Input should be 'text', 'image' or 'document'")
    return part


def _assistant_turn(content: str | list[Any], path: str) -> ChatMessage:
    if isinstance(content, str):
        return ChatMessage(role="assistant", content=content)
    parts: list[dict[str, Any]] = []
    calls: list[dict[str, Any]] = []
    thinking: list[dict[str, Any]] = []
    for i, block in enumerate(content):
        where = f"{path}.content.{i}"
        kind = _block_type(block, where)
        if kind == "text":
            parts.append(_text_part(block, where))
        elif kind == "tool_use":
            calls.append(_tool_call(block, where))
        elif kind in ("thinking", "redacted_thinking"):
            thinking.append(block)
    message = ChatMessage.model_validate(
        {"role": "assistant", "content": _assistant_content(parts), "tool_calls": calls or None}
    )
    if thinking:
        message.thinking_blocks = thinking
        reasoning = "".join(str(b.get("thinking", "")) for b in thinking)
        message.reasoning_content = reasoning or None
    return message


def _assistant_content(parts: list[dict[str, Any]]) -> str | list[dict[str, Any]] | None:
    if not parts:
        return None
    if any("cache_control" in p for p in parts):
        return parts
    return "".join(p["text"] for p in parts)


def _tool_call(block: dict[str, Any], path: str) -> dict[str, Any]:
    arguments = block.get("input", {})
    if not isinstance(arguments, dict):
        _fail(f"{path}.input", "Input should be a valid dictionary")
    name = _get(block, "name", str, path=path)
    function = {"name": name, "arguments": json.dumps(arguments)}
    return {"id": _get(block, "id", str, path=path), "type": "function", "function": function}


def _stop_sequences(body: dict[str, Any]) -> list[str] | None:
    stops = _get(body, "stop_sequences", list, required=False)
    if stops is None:
        return None
    if not all(isinstance(s, str) for s in stops):
        _fail("stop_sequences", "Input should be a list of strings")
    if len(stops) > MAX_STOP_SEQUENCES:
        _fail(
            "stop_sequences",
            f"at most {MAX_STOP_SEQUENCES} stop sequences are supported by this gateway "
            f"(got {len(stops)})",
        )
    return list(stops)


def _metadata(metadata: Any) -> dict[str, Any]:
    if metadata is None:
        return {}
    if not isinstance(metadata, dict):
        _fail("metadata", "Input should be a valid dictionary")
    user = metadata.get("user_id")
    if user is not None and not isinstance(user, str):
        _fail("metadata.user_id", "Input should be a valid string")
    return {"metadata": metadata, **({"user": user} if user else {})}


def _tools(tools: Any, choice: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    if tools is not None:
        if not isinstance(tools, list):
            _fail("tools", "Input should be a valid list")
        functions = [_tool(t, f"tools.{i}") for i, t in enumerate(tools)]
        fields["tools"] = [f for f in functions if f is not None] or None
    if choice is not None:
        if not isinstance(choice, dict):
            _fail("tool_choice", "Input should be a valid dictionary")
        kind = _get(choice, "type", str, path="tool_choice")
        if kind == "tool":
            name = _get(choice, "name", str, path="tool_choice")
            fields["tool_choice"] = {"type": "function", "function": {"name": name}}
        elif kind in _TOOL_CHOICES:
            fields["tool_choice"] = _TOOL_CHOICES[kind]
        else:
            _fail("tool_choice.type", "Input should be 'auto', 'any', 'tool' or 'none'")
        if choice.get("disable_parallel_tool_use") is True:
            fields["parallel_tool_calls"] = False
    return fields


def _tool(tool: Any, path: str) -> dict[str, Any] | None:
    if not isinstance(tool, dict):
        _fail(path, "Input should be a valid dictionary")
    if tool.get("type") not in (None, "custom"):
        return None  # a server tool (web search, code execution...): Anthropic's own
    function: dict[str, Any] = {
        "name": _get(tool, "name", str, path=path),
        "parameters": _get(tool, "input_schema", dict, path=path),
    }
    if isinstance(tool.get("description"), str):
        function["description"] = tool["description"]
    return _cached(tool, {"type": "function", "function": function})
