"""Gemini's ``generateContent``, inbound: ``POST /v1beta/models/{model}:generateContent``
and ``:streamGenerateContent`` as google-genai sends them, and Google's answers and errors."""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from orchestra.errors import InvalidRequest
from orchestra.formats.gemini_contents import as_list, as_object, refuse, system_text, to_messages
from orchestra.formats.gemini_keys import camel_keys
from orchestra.formats.gemini_tools import json_schema, to_tool_choice, to_tools
from orchestra.schemas.chat import ChatMessage, ChatRequest, ChatResponse, NativeBody, Usage

if TYPE_CHECKING:
    from orchestra.schemas.chat import ToolCall

FORMAT = "gemini"
#: request fields the gateway accepts but only a Gemini upstream honours
NATIVE_ONLY = {"safetySettings", "labels", "serviceTier"}
#: generationConfig fields mapped to chat parameters, by Gemini name
GENERATION = {
    "temperature": "temperature",
    "topP": "top_p",
    "topK": "top_k",
    "maxOutputTokens": "max_tokens",
    "stopSequences": "stop",
    "seed": "seed",
    "presencePenalty": "presence_penalty",
    "frequencyPenalty": "frequency_penalty",
}
#: generationConfig fields a Gemini upstream alone honours
GENERATION_NATIVE = {
    "responseLogprobs",
    "logprobs",
    "mediaResolution",
    "enableEnhancedCivicAnswers",
    "routingConfig",
    "modelSelectionConfig",
    "audioTimestamp",
    "speechConfig",
    "imageConfig",
}
#: chat field -> where the client wrote it, for validation errors
FIELD_NAMES = {
    **{chat: f"generationConfig.{name}" for name, chat in GENERATION.items()},
    "messages": "contents",
    "model": "model",
    "tools": "tools",
}
#: the methods served after ``models/<model>:``
METHODS = ("generateContent", "streamGenerateContent", "countTokens")
FINISH_REASONS = {"length": "MAX_TOKENS", "content_filter": "SAFETY"}

#: Google's canonical status names, by HTTP status
STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    405: "INVALID_ARGUMENT",
    409: "ALREADY_EXISTS",
    413: "INVALID_ARGUMENT",
    422: "INVALID_ARGUMENT",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    500: "INTERNAL",
    501: "UNIMPLEMENTED",
    502: "UNAVAILABLE",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


def error_body(
    status: int, kind: str, code: str, message: str, param: str | None
) -> tuple[int, dict[str, Any]]:
    """Google's error shape ``{"error": {"code", "message", "status", "details"}}``: the
    offending field as a ``BadRequest`` field violation, Orchestra's code as ``ErrorInfo``."""
    if status == 422:
        status = 400
    details: list[dict[str, Any]] = [
        {
            "@type": "type.googleapis.com/google.rpc.ErrorInfo",
            "reason": code.upper(),
            "domain": "orchestra",
        }
    ]
    if param:
        details.append(
            {
                "@type": "type.googleapis.com/google.rpc.BadRequest",
                "fieldViolations": [{"field": param, "description": message}],
            }
        )
    error = {
        "code": status,
        "message": message,
        "status": STATUS_NAMES.get(status, "UNKNOWN" if status < 500 else "INTERNAL"),
        "details": details,
    }
    return status, {"error": error}


# --- request -------------------------------------------------------------------------


def serves(path: str) -> bool:
    """Whether ``path`` is Gemini's: anything under ``/v1beta/``, and under ``/v1``
    (google-genai's default API version) ``/v1/models/<model>:<method>``."""
    if path.startswith("/v1beta/"):
        return True
    return path.startswith("/v1/models/") and ":" in path


def to_chat_request(body: dict[str, Any], model: str, *, stream: bool) -> ChatRequest:
    """A ``GenerateContentRequest`` as the internal chat request, the body kept as native
    (as sent; what is read is its camelCase spelling)."""
    native, body = body, camel_keys(body)
    _refuse_unknown(body)
    messages = to_messages(body.get("contents"))
    if "systemInstruction" in body:
        system = system_text(body["systemInstruction"])
        messages.insert(0, ChatMessage(role="system", content=system))
    fields: dict[str, Any] = {"model": model, "messages": messages, "stream": stream}
    if stream:
        fields["stream_options"] = {"include_usage": True}
    if "tools" in body:
        fields["tools"] = to_tools(body["tools"]) or None
    if "toolConfig" in body:
        fields["tool_choice"] = to_tool_choice(body["toolConfig"], fields.get("tools") or [])
    fields.update(generation(body.get("generationConfig", {})))
    try:
        request = ChatRequest.model_validate(fields)
    except ValidationError as exc:
        raise _named(exc) from exc
    return request.with_native(NativeBody(format=FORMAT, body=native))


def _refuse_unknown(body: dict[str, Any]) -> None:
    if "cachedContent" in body:
        raise refuse(
            "cachedContent", "cached contents are not supported by this gateway: send contents"
        )
    known = {"contents", "systemInstruction", "tools", "toolConfig", "generationConfig"}
    for key in body:
        if key not in known and key not in NATIVE_ONLY:
            raise InvalidRequest(f"Unknown name '{key}': cannot find field.", param=key)


def generation(value: Any) -> dict[str, Any]:
    """``generationConfig`` as chat parameters."""
    config = as_object(value, "generationConfig")
    fields: dict[str, Any] = {}
    for key, item in config.items():
        if key in GENERATION:
            fields[GENERATION[key]] = item
        elif key not in GENERATION_NATIVE and key not in _SPECIAL:
            raise refuse(f"generationConfig.{key}", f"unknown field '{key}'")
    count = config.get("candidateCount", 1)
    if count != 1:
        raise refuse("generationConfig.candidateCount", "only one candidate is supported")
    modalities = as_list(config.get("responseModalities", ["TEXT"]), "generationConfig")
    if any(str(m).upper() != "TEXT" for m in modalities):
        raise refuse("generationConfig.responseModalities", "only TEXT output is supported")
    if (fmt := response_format(config)) is not None:
        fields["response_format"] = fmt
    if "thinkingConfig" in config:
        fields.update(thinking(config["thinkingConfig"]))
    return fields


_SPECIAL = {
    "candidateCount",
    "responseModalities",
    "responseMimeType",
    "responseSchema",
    "responseJsonSchema",
    "thinkingConfig",
}


def response_format(config: dict[str, Any]) -> dict[str, Any] | None:
    where = "generationConfig.responseMimeType"
    mime = config.get("responseMimeType") or "text/plain"
    if mime == "text/plain":
        return None
    if mime != "application/json":
        raise refuse(where, f"unsupported '{mime}' (expected application/json or text/plain)")
    if "responseJsonSchema" in config:
        schema = as_object(config["responseJsonSchema"], "generationConfig.responseJsonSchema")
    elif "responseSchema" in config:
        schema = json_schema(config["responseSchema"], "generationConfig.responseSchema")
    else:
        return {"type": "json_object"}
    return {"type": "json_schema", "json_schema": {"name": "response", "schema": schema}}


def thinking(value: Any) -> dict[str, Any]:
    """``thinkingConfig``: a budget of 0 turns thinking off, a positive one sets its budget,
    -1 (dynamic) leaves the vendor's default; ``thinkingLevel`` is a reasoning effort."""
    config = as_object(value, "generationConfig.thinkingConfig")
    fields: dict[str, Any] = {}
    budget = config.get("thinkingBudget")
    if budget is not None and not isinstance(budget, int):
        raise refuse("generationConfig.thinkingConfig.thinkingBudget", "expected an integer")
    if budget == 0:
        fields["thinking"] = {"type": "disabled"}
    elif budget is not None and budget > 0:
        fields["thinking"] = {"type": "enabled", "budget_tokens": budget}
    if isinstance(level := config.get("thinkingLevel"), str):
        fields["reasoning_effort"] = level.lower()
    return fields


def _named(exc: ValidationError) -> InvalidRequest:
    """A validation error of the chat request, naming the field as the client wrote it."""
    first = exc.errors()[0]
    loc = [str(p) for p in first.get("loc", ())]
    param = FIELD_NAMES.get(loc[0], loc[0]) if loc else None
    message = str(first.get("msg", "invalid value")).removeprefix("Value error, ")
    return InvalidRequest(f"Invalid value at '{param}': {message}", param=param)


def include_thoughts(request: ChatRequest) -> bool:
    """Whether the client asked for thought parts (``thinkingConfig.includeThoughts``)."""
    body = request.native.body if request.native is not None else {}
    config = camel_keys(body.get("generationConfig") or body.get("generation_config") or {})
    return bool((config.get("thinkingConfig") or {}).get("includeThoughts"))


# --- response ------------------------------------------------------------------------


def render_response(
    response: ChatResponse, model_version: str, *, thoughts: bool
) -> dict[str, Any]:
    """A chat answer as a ``GenerateContentResponse``; a Gemini upstream's own answer is
    returned as it came (only ``modelVersion`` says who answered)."""
    native = response.native
    if native is not None and native.format == FORMAT:
        return {**native.body, "modelVersion": model_version}
    parts: list[dict[str, Any]] = []
    choice = response.choices[0] if response.choices else None
    message = choice.message if choice is not None else None
    if message is not None:
        if thoughts and message.reasoning_content:
            parts.append({"text": message.reasoning_content, "thought": True})
        if message.content:
            parts.append({"text": message.content})
        parts.extend(function_call(call) for call in message.tool_calls or [])
    reason = choice.finish_reason if choice is not None else None
    return envelope(parts or [{"text": ""}], response.id, model_version, reason, response.usage)


def envelope(
    parts: list[dict[str, Any]],
    response_id: str,
    model_version: str,
    reason: str | None = None,
    usage: Usage | None = None,
) -> dict[str, Any]:
    candidate: dict[str, Any] = {"content": {"role": "model", "parts": parts}, "index": 0}
    if reason is not None:
        candidate["finishReason"] = FINISH_REASONS.get(reason, "STOP")
    body: dict[str, Any] = {"candidates": [candidate]}
    if usage is not None:
        body["usageMetadata"] = usage_metadata(usage)
    body["modelVersion"] = model_version
    body["responseId"] = response_id or os.urandom(16).hex()
    return body


def function_call(call: ToolCall) -> dict[str, Any]:
    try:
        args = json.loads(call.function.arguments or "{}")
    except ValueError:
        args = {"arguments": call.function.arguments}
    if not isinstance(args, dict):
        args = {"value": args}
    part: dict[str, Any] = {"functionCall": {"name": call.function.name, "args": args}}
    if call.id:
        part["functionCall"]["id"] = call.id
    signature = (call.model_extra or {}).get("thought_signature")
    if isinstance(signature, str):
        part["thoughtSignature"] = signature
    return part


def usage_metadata(usage: Usage) -> dict[str, Any]:
    """Gemini's counts: ``candidatesTokenCount`` leaves the thoughts out."""
    thoughts = usage.reasoning_tokens
    metadata: dict[str, Any] = {
        "promptTokenCount": usage.prompt_tokens,
        "candidatesTokenCount": max(usage.completion_tokens - thoughts, 0),
        "totalTokenCount": usage.total_tokens or usage.prompt_tokens + usage.completion_tokens,
    }
    if usage.cached_tokens:
        metadata["cachedContentTokenCount"] = usage.cached_tokens
    if thoughts:
        metadata["thoughtsTokenCount"] = thoughts
    return metadata


def count_tokens(body: dict[str, Any], model: str) -> dict[str, Any]:
    """``countTokens``: an estimate (``orchestra.tokens``), no upstream call."""
    from orchestra.tokens import estimate_prompt_tokens

    body = camel_keys(body)
    inner = body.get("generateContentRequest")
    request_body = inner if isinstance(inner, dict) else {"contents": body.get("contents")}
    request = to_chat_request(request_body, model, stream=False)
    return {"totalTokens": estimate_prompt_tokens(request)}
