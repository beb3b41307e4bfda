"""Gemini ``contents`` and ``systemInstruction`` into chat messages.

Every refusal names the field as Google spells it (``contents[0].parts[1].inlineData``).
A ``functionCall`` without an ``id`` gets a deterministic one (its position in the
conversation), and a ``functionResponse`` without an ``id`` answers the earliest unanswered
call of the same name, so a client resending its history gets the same ids every turn.
"""

from __future__ import annotations

import json
import mimetypes
from dataclasses import dataclass, field
from typing import Any

from orchestra.errors import InvalidRequest
from orchestra.schemas.chat import ChatMessage, ToolCall

#: documents every adapter can take as a ``file`` part
DOCUMENT_TYPES = ("application/pdf", "text/")
#: audio formats OpenAI's ``input_audio`` names
AUDIO_FORMATS = {"audio/wav": "wav", "audio/x-wav": "wav", "audio/mp3": "mp3", "audio/mpeg": "mp3"}
#: part kinds Gemini defines that have no chat counterpart
UNSUPPORTED_PARTS = ("executableCode", "codeExecutionResult", "videoMetadata", "toolCall")


def refuse(field: str, message: str) -> InvalidRequest:
    return InvalidRequest(f"Invalid value at '{field}': {message}", param=field)


def as_object(value: Any, field: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise refuse(field, "expected an object")
    return value


def as_list(value: Any, field: str) -> list[Any]:
    if not isinstance(value, list):
        raise refuse(field, "expected a list")
    return value


def as_text(value: Any, field: str) -> str:
    if value is None:
        raise refuse(field, "a value is required")
    if not isinstance(value, str):
        raise refuse(field, "expected a string")
    return value


def system_text(value: Any) -> str:
    """``systemInstruction``: a Content whose text parts are joined (a bare string too)."""
    if isinstance(value, str):
        return value
    content = as_object(value, "systemInstruction")
    parts = as_list(content.get("parts", []), "systemInstruction.parts")
    texts = []
    for j, part in enumerate(parts):
        where = f"systemInstruction.parts[{j}]"
        part = as_object(part, where)
        if set(part) - {"text", "thought", "thoughtSignature"}:
            raise refuse(where, "a system instruction holds text parts only")
        texts.append(as_text(part.get("text", ""), f"{where}.text"))
    return "\n".join(texts)


@dataclass
class Conversation:
    """The messages so far, and the calls of the last model turn not answered yet."""

    messages: list[ChatMessage] = field(default_factory=list)
    pending: list[ToolCall] = field(default_factory=list)

    def answer(self, name: str, call_id: Any, where: str) -> str:
        if isinstance(call_id, str) and call_id:
            self.pending = [c for c in self.pending if c.id != call_id]
            return call_id
        for call in self.pending:
            if call.function.name == name:
                self.pending.remove(call)
                return call.id
        raise refuse(f"{where}.name", f"no earlier functionCall named '{name}' to answer")


def to_messages(contents: Any) -> list[ChatMessage]:
    """``contents`` (role ``user``/``model``) as chat messages, in order."""
    contents = as_list(contents, "contents")
    if not contents:
        raise refuse("contents", "at least one content is required")
    conversation = Conversation()
    for i, content in enumerate(contents):
        where = f"contents[{i}]"
        content = as_object(content, where)
        role = content.get("role") or "user"
        parts = as_list(content.get("parts", []), f"{where}.parts")
        if role == "model":
            conversation.messages.append(_model_turn(parts, i, conversation))
        elif role in ("user", "function", "tool"):
            _user_turn(parts, where, conversation)
        else:
            raise refuse(f"{where}.role", f"unknown role '{role}' (expected 'user' or 'model')")
    return conversation.messages


def _model_turn(parts: list[Any], i: int, conversation: Conversation) -> ChatMessage:
    where = f"contents[{i}]"
    texts: list[str] = []
    thoughts: list[str] = []
    calls: list[ToolCall] = []
    for j, part in enumerate(parts):
        at = f"{where}.parts[{j}]"
        part = as_object(part, at)
        if "functionCall" in part:
            calls.append(_tool_call(part, f"{i}_{j}", at))
        elif "text" in part:
            text = as_text(part["text"], f"{at}.text")
            (thoughts if part.get("thought") else texts).append(text)
        elif set(part) - {"thought", "thoughtSignature"}:
            raise refuse(at, "a model turn may hold text, thought and functionCall parts only")
    conversation.pending = list(calls)
    return ChatMessage(
        role="assistant",
        content="".join(texts) or None,
        tool_calls=calls or None,
        reasoning_content="".join(thoughts) or None,
    )


def _tool_call(part: dict[str, Any], position: str, where: str) -> ToolCall:
    call = as_object(part["functionCall"], f"{where}.functionCall")
    name = as_text(call.get("name"), f"{where}.functionCall.name")
    args = call.get("args") or {}
    as_object(args, f"{where}.functionCall.args")
    call_id = call.get("id") or f"call_{position}"
    extra = {}
    if isinstance(part.get("thoughtSignature"), str):
        extra["thought_signature"] = part["thoughtSignature"]
    return ToolCall.model_validate(
        {"id": call_id, "function": {"name": name, "arguments": json.dumps(args)}, **extra}
    )


def _user_turn(parts: list[Any], where: str, conversation: Conversation) -> None:
    """Function responses become tool messages (first: they answer the last model turn),
    everything else one user message."""
    content: list[dict[str, Any]] = []
    for j, part in enumerate(parts):
        at = f"{where}.parts[{j}]"
        part = as_object(part, at)
        if "functionResponse" in part:
            conversation.messages.append(_tool_result(part["functionResponse"], at, conversation))
        elif not part.get("thought"):
            content.extend(_content_part(part, at))
    if len(content) == 1 and content[0]["type"] == "text":
        conversation.messages.append(ChatMessage(role="user", content=content[0]["text"]))
    elif content:
        conversation.messages.append(ChatMessage(role="user", content=content))


def _tool_result(value: Any, where: str, conversation: Conversation) -> ChatMessage:
    where = f"{where}.functionResponse"
    response = as_object(value, where)
    name = as_text(response.get("name"), f"{where}.name")
    body = response.get("response", {})
    as_object(body, f"{where}.response")
    call_id = conversation.answer(name, response.get("id"), where)
    message = ChatMessage(role="tool", tool_call_id=call_id, name=name, content=json.dumps(body))
    if set(body) == {"error"}:
        message.is_error = True  # type: ignore[attr-defined]  # an extra field
    return message


def _content_part(part: dict[str, Any], where: str) -> list[dict[str, Any]]:
    if "text" in part:
        return [{"type": "text", "text": as_text(part["text"], f"{where}.text")}]
    if "inlineData" in part:
        return [_inline(as_object(part["inlineData"], f"{where}.inlineData"), where)]
    if "fileData" in part:
        return [_file(as_object(part["fileData"], f"{where}.fileData"), where)]
    for kind in UNSUPPORTED_PARTS:
        if kind in part:
            raise refuse(f"{where}.{kind}", f"'{kind}' parts are not supported by this gateway")
    if set(part) - {"thoughtSignature", "partMetadata", "mediaResolution"}:
        raise refuse(where, "expected one of text, inlineData, fileData, functionResponse")
    return []


def _inline(data: dict[str, Any], where: str) -> dict[str, Any]:
    mime = as_text(data.get("mimeType"), f"{where}.inlineData.mimeType").lower()
    payload = as_text(data.get("data"), f"{where}.inlineData.data")
    url = f"data:{mime};base64,{payload}"
    if mime.startswith("image/"):
        return {"type": "image_url", "image_url": {"url": url}}
    if mime.startswith(DOCUMENT_TYPES):
        file: dict[str, Any] = {"file_data": url}
        if isinstance(data.get("displayName"), str):
            file["filename"] = data["displayName"]
        return {"type": "file", "file": file}
    if mime in AUDIO_FORMATS:
        return {
            "type": "input_audio",
            "input_audio": {"data": payload, "format": AUDIO_FORMATS[mime]},
        }
    raise refuse(f"{where}.inlineData.mimeType", f"unsupported MIME type '{mime}'")


def _file(data: dict[str, Any], where: str) -> dict[str, Any]:
    uri = as_text(data.get("fileUri"), f"{where}.fileData.fileUri")
    if not uri.startswith("https://"):
        raise refuse(f"{where}.fileData.fileUri", "expected an https:// URL")
    mime = data.get("mimeType") or mimetypes.guess_type(uri.split("?", 1)[0])[0]
    mime = as_text(mime, f"{where}.fileData.mimeType").lower()
    if mime.startswith("image/"):
        return {"type": "image_url", "image_url": {"url": uri}}
    if mime.startswith(DOCUMENT_TYPES):
        return {"type": "file", "file": {"file_url": uri}}
    raise refuse(f"{where}.fileData.mimeType", f"unsupported MIME type '{mime}'")
