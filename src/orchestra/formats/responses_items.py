"""Responses input items as chat messages.

``message`` items (roles user, assistant, system, developer; content a string or
``input_text`` / ``output_text`` / ``input_image`` / ``input_file`` / ``input_audio``
parts), ``function_call`` items (joined to the assistant message before them, as chat's
``tool_calls``), ``function_call_output`` items (``tool`` messages) and ``reasoning`` items
(their summary text becomes the next assistant message's ``reasoning_content``). Anything
else is a 400 naming the item (``input[3].type``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from orchestra.errors import InvalidRequest
from orchestra.schemas.chat import ChatMessage, FunctionCall, ToolCall

ROLES = ("user", "assistant", "system", "developer")


class _Conversation:
    """The messages built so far, and reasoning waiting for its assistant message."""

    def __init__(self) -> None:
        self.messages: list[ChatMessage] = []
        self.reasoning: str | None = None

    def assistant(self, content: str | None) -> ChatMessage:
        message = ChatMessage(role="assistant", content=content, reasoning_content=self.reasoning)
        self.reasoning = None
        self.messages.append(message)
        return message

    def add_call(self, call: ToolCall) -> None:
        last = self.messages[-1] if self.messages else None
        if last is None or last.role != "assistant" or self.reasoning is not None:
            last = self.assistant(None)
        last.tool_calls = [*(last.tool_calls or []), call]


def input_messages(items: str | list[dict[str, Any]] | None) -> list[ChatMessage]:
    """``input`` (a string: one user message; or a list of items) as chat messages."""
    if items is None:
        return []
    if isinstance(items, str):
        return [ChatMessage(role="user", content=items)]
    conversation = _Conversation()
    for i, item in enumerate(items):
        path = f"input[{i}]"
        kind = item.get("type", "message")
        handler = _ITEMS.get(kind) if isinstance(kind, str) else None
        if handler is None:
            raise InvalidRequest(
                f"{path}.type {kind!r} is not supported here: send message, function_call, "
                "function_call_output or reasoning items",
                param=f"{path}.type",
                code="unsupported_item",
            )
        handler(conversation, item, path)
    return conversation.messages


def _message(conversation: _Conversation, item: dict[str, Any], path: str) -> None:
    role = item.get("role")
    if role not in ROLES:
        raise InvalidRequest(
            f"{path}.role must be one of {', '.join(ROLES)}",
            param=f"{path}.role",
            code="invalid_value",
        )
    content = _content(item.get("content"), f"{path}.content")
    if role == "assistant":
        text = content if isinstance(content, str) else "".join(p.get("text", "") for p in content)
        conversation.assistant(text)
        return
    conversation.messages.append(ChatMessage(role=role, content=content))


def _function_call(conversation: _Conversation, item: dict[str, Any], path: str) -> None:
    call_id, name = _text(item, "call_id", path), _text(item, "name", path)
    arguments = item.get("arguments", "")
    if not isinstance(arguments, str):
        raise InvalidRequest(f"{path}.arguments must be a string (JSON)", param=f"{path}.arguments")
    function = FunctionCall(name=name, arguments=arguments)
    conversation.add_call(ToolCall(id=call_id, function=function))


def _function_call_output(conversation: _Conversation, item: dict[str, Any], path: str) -> None:
    call_id = _text(item, "call_id", path)
    output = item.get("output")
    if output is None:
        raise InvalidRequest(f"Missing required parameter: '{path}.output'", param=f"{path}.output")
    content = _content(output, f"{path}.output")
    conversation.messages.append(ChatMessage(role="tool", tool_call_id=call_id, content=content))


def _reasoning(conversation: _Conversation, item: dict[str, Any], path: str) -> None:
    pieces = [*(item.get("summary") or []), *(item.get("content") or [])]
    text = "\n\n".join(str(p.get("text", "")) for p in pieces if isinstance(p, dict))
    if text:
        conversation.reasoning = "\n\n".join(filter(None, [conversation.reasoning, text]))


_ITEMS: dict[str, Callable[[_Conversation, dict[str, Any], str], None]] = {
    "message": _message,
    "function_call": _function_call,
    "function_call_output": _function_call_output,
    "reasoning": _reasoning,
}


def _text(item: dict[str, Any], key: str, path: str) -> str:
    value = item.get(key)
    if not isinstance(value, str) or not value:
        raise InvalidRequest(f"Missing required parameter: '{path}.{key}'", param=f"{path}.{key}")
    return value


def _content(content: Any, path: str) -> str | list[dict[str, Any]]:
    """A string, or parts as chat parts (text-only parts joined into one string)."""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise InvalidRequest(f"{path} must be a string or a list of parts", param=path)
    parts = [_part(part, f"{path}[{j}]") for j, part in enumerate(content)]
    if all(p["type"] == "text" for p in parts):
        return "".join(p["text"] for p in parts)
    return parts


def _part(part: Any, path: str) -> dict[str, Any]:
    kind = part.get("type") if isinstance(part, dict) else None
    if kind in ("input_text", "output_text", "text", "summary_text"):
        text = part.get("text")
        if not isinstance(text, str):
            raise InvalidRequest(f"Missing required parameter: '{path}.text'", param=f"{path}.text")
        return {"type": "text", "text": text}
    if kind == "refusal":
        return {"type": "text", "text": str(part.get("refusal", ""))}
    if kind == "input_image":
        return _image(part, path)
    if kind == "input_file":
        return _file(part, path)
    if kind == "input_audio" and isinstance(part.get("input_audio"), dict):
        return {"type": "input_audio", "input_audio": part["input_audio"]}
    raise InvalidRequest(
        f"{path}.type {kind!r} is not supported: send input_text, input_image, input_file "
        "or output_text parts",
        param=f"{path}.type",
        code="unsupported_content",
    )


def _no_file_ids(part: dict[str, Any], path: str, instead: str) -> None:
    if part.get("file_id"):
        raise InvalidRequest(
            f"{path}.file_id: uploaded file ids are not supported by this gateway (it has no "
            f"Files API); send {instead} instead",
            param=f"{path}.file_id",
            code="unsupported_file_id",
        )


def _image(part: dict[str, Any], path: str) -> dict[str, Any]:
    _no_file_ids(part, path, "the image as image_url (a data: URL or an https URL)")
    url = part.get("image_url")
    if not isinstance(url, str) or not url:
        raise InvalidRequest(
            f"Missing required parameter: '{path}.image_url'", param=f"{path}.image_url"
        )
    image: dict[str, Any] = {"url": url}
    if part.get("detail"):
        image["detail"] = part["detail"]
    return {"type": "image_url", "image_url": image}


def _file(part: dict[str, Any], path: str) -> dict[str, Any]:
    _no_file_ids(part, path, "the file as file_data (a data: URL) or file_url")
    data, url = part.get("file_data"), part.get("file_url")
    if isinstance(data, str) and data:
        if not data.startswith("data:"):
            raise InvalidRequest(
                f"{path}.file_data must be a data: URL (data:<mime>;base64,...)",
                param=f"{path}.file_data",
                code="invalid_value",
            )
        file: dict[str, Any] = {"file_data": data}
        if part.get("filename"):
            file["filename"] = part["filename"]
        return {"type": "file", "file": file}
    if isinstance(url, str) and url:
        return {"type": "file", "file": {"file_url": url}}
    raise InvalidRequest(
        f"Missing required parameter: '{path}.file_data' (or file_url)", param=f"{path}.file_data"
    )
