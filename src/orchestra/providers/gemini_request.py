"""The ``generateContent`` request body for a chat request.

System messages become ``systemInstruction``; the conversation becomes alternating
``user``/``model`` turns of parts (text, ``inlineData`` for data URLs, ``fileData`` for
https URLs, function calls and responses); sampling, stop, seed, ``top_k``, JSON output and
thinking become ``generationConfig``. An assistant's reasoning (``reasoning_content``,
``thinking_blocks``) is never sent back, nor any ``cache_control``; a function call's
thought signature is (Gemini thinking models require it on the next turn). A request that
came in as a Gemini body is sent as the client wrote it (:func:`native_body`).
"""

from __future__ import annotations

import mimetypes
from typing import Any

from orchestra.providers import wire
from orchestra.schemas.chat import ChatMessage, ChatRequest, ToolCall

#: a tool call id carrying a thought signature: ``<id>__ts__<signature>``
SIGNATURE_MARK = "__ts__"
UNSUPPORTED_SCHEMA_KEYS = {"$schema", "additionalProperties", "strict", "$id", "examples"}
#: OpenAI's reasoning effort as a Gemini thinking budget (0 turns thinking off)
EFFORT_BUDGETS = {"none": 0, "minimal": 0, "low": 1024, "medium": 8192, "high": 24576}
AUDIO_TYPES = {"wav": "audio/wav", "mp3": "audio/mp3"}


def native_body(request: ChatRequest) -> dict[str, Any] | None:
    """The client's own body when it came in as a Gemini request (unknown fields kept)."""
    native = request.native
    return native.body if native is not None and native.format == "gemini" else None


def to_body(request: ChatRequest, model: str) -> dict[str, Any]:
    body: dict[str, Any] = {"contents": to_contents(request.messages)}
    system = [m.text() for m in request.messages if m.role in ("system", "developer")]
    if system:
        body["systemInstruction"] = {"parts": [{"text": "\n\n".join(system)}]}
    if config := generation_config(request):
        body["generationConfig"] = config
    if request.tools:
        declarations = [_declaration(t) for t in request.tools if t.get("type") == "function"]
        body["tools"] = [{"functionDeclarations": declarations}]
        if (choice := _tool_config(request.tool_choice)) is not None:
            body["toolConfig"] = choice
    return body


def generation_config(request: ChatRequest) -> dict[str, Any]:
    config: dict[str, Any] = {
        "temperature": request.temperature,
        "topP": request.top_p,
        "topK": request.top_k,
        "maxOutputTokens": request.output_limit(),
        "stopSequences": request.stop_list() or None,
        "seed": request.seed,
        "presencePenalty": request.presence_penalty,
        "frequencyPenalty": request.frequency_penalty,
        "thinkingConfig": thinking_config(request),
    }
    fmt = request.response_format or {}
    if fmt.get("type") in ("json_object", "json_schema"):
        config["responseMimeType"] = "application/json"
        schema = (fmt.get("json_schema") or {}).get("schema")
        if schema:
            config["responseJsonSchema"] = schema
    return {k: v for k, v in config.items() if v is not None}


def thinking_config(request: ChatRequest) -> dict[str, Any] | None:
    """Anthropic's ``thinking`` (which wins) or OpenAI's ``reasoning_effort`` as Gemini's
    ``thinkingConfig``; thoughts are asked for whenever thinking is on."""
    thinking = request.thinking or {}
    budget: int | None = None
    if thinking.get("type") == "disabled":
        budget = 0
    elif thinking.get("type") == "enabled" and isinstance(thinking.get("budget_tokens"), int):
        budget = thinking["budget_tokens"]
    elif request.reasoning_effort is not None:
        budget = EFFORT_BUDGETS.get(request.reasoning_effort)
    if budget is None:
        return None
    if budget == 0:
        return {"thinkingBudget": 0}
    return {"thinkingBudget": budget, "includeThoughts": True}


def to_contents(messages: list[ChatMessage]) -> list[dict[str, Any]]:
    names = {c.id: c.function.name for m in messages for c in m.tool_calls or []}
    return wire.alternating_turns(
        messages, lambda m: _parts(m, names), assistant="model", key="parts"
    )


def _parts(message: ChatMessage, names: dict[str, str]) -> list[dict[str, Any]]:
    if message.role in ("tool", "function"):
        call_id = message.tool_call_id or ""
        name = names.get(call_id) or message.name or "tool"
        key = "error" if (message.model_extra or {}).get("is_error") else "result"
        return [{"functionResponse": {"name": name, "response": {key: message.text()}}}]
    parts = _content_parts(message)
    parts.extend(_call_part(call) for call in message.tool_calls or [])
    return parts


def thought_signature(call: ToolCall) -> str | None:
    """A tool call's thought signature: its ``thought_signature`` field, else the one
    carried in its id (for clients that keep only id, name and arguments)."""
    extra = (call.model_extra or {}).get("thought_signature")
    if isinstance(extra, str) and extra:
        return extra
    _, _, signature = call.id.partition(SIGNATURE_MARK)
    return signature or None


def _call_part(call: ToolCall) -> dict[str, Any]:
    part: dict[str, Any] = {
        "functionCall": {
            "name": call.function.name,
            "args": wire.json_object(call.function.arguments),
        }
    }
    if signature := thought_signature(call):
        part["thoughtSignature"] = signature
    return part


def _content_parts(message: ChatMessage) -> list[dict[str, Any]]:
    if isinstance(message.content, str):
        return [{"text": message.content}] if message.content else []
    parts = (_part(item) for item in message.content or [])
    return [part for part in parts if part is not None]


def _part(item: dict[str, Any]) -> dict[str, Any] | None:
    """One OpenAI content part as a Gemini part (``None``: nothing Gemini takes)."""
    kind = item.get("type")
    if kind == "text":
        return {"text": item["text"]} if item.get("text") else None
    if kind == "image_url":
        return _media(wire.image_url(item.get("image_url")), "image/jpeg")
    if kind == "file":
        return _file_part(item.get("file"))
    if kind == "input_audio":
        return _audio_part(item.get("input_audio"))
    return None


def _media(url: str, default_mime: str) -> dict[str, Any]:
    """A data URL as ``inlineData``, any other URL as ``fileData``."""
    if match := wire.DATA_URL.match(url):
        return {"inlineData": {"mimeType": match["mime"], "data": match["data"]}}
    mime = mimetypes.guess_type(url.split("?", 1)[0])[0] or default_mime
    return {"fileData": {"mimeType": mime, "fileUri": url}}


def _file_part(file: Any) -> dict[str, Any] | None:
    if not isinstance(file, dict):
        return None
    url = file.get("file_data") or file.get("file_url")
    return _media(str(url), "application/pdf") if url else None


def _audio_part(audio: Any) -> dict[str, Any] | None:
    if not isinstance(audio, dict) or not audio.get("data"):
        return None
    mime = AUDIO_TYPES.get(str(audio.get("format")), f"audio/{audio.get('format') or 'wav'}")
    return {"inlineData": {"mimeType": mime, "data": audio["data"]}}


def clean_schema(schema: Any) -> Any:
    """JSON schema without the keywords Gemini's OpenAPI subset rejects."""
    if isinstance(schema, dict):
        return {k: clean_schema(v) for k, v in schema.items() if k not in UNSUPPORTED_SCHEMA_KEYS}
    if isinstance(schema, list):
        return [clean_schema(v) for v in schema]
    return schema


def _declaration(tool: dict[str, Any]) -> dict[str, Any]:
    function = tool.get("function") or {}
    declaration: dict[str, Any] = {"name": function.get("name", "")}
    if function.get("description"):
        declaration["description"] = function["description"]
    parameters = function.get("parameters")
    if parameters and parameters.get("properties"):
        declaration["parameters"] = clean_schema(parameters)
    return declaration


def _tool_config(choice: str | dict[str, Any] | None) -> dict[str, Any] | None:
    if isinstance(choice, dict):
        name = (choice.get("function") or {}).get("name")
        mode: dict[str, Any] = {"mode": "ANY", "allowedFunctionNames": [name]} if name else {}
        return {"functionCallingConfig": mode} if mode else None
    modes = {"auto": "AUTO", "required": "ANY", "none": "NONE"}
    return {"functionCallingConfig": {"mode": modes[choice]}} if choice in modes else None
