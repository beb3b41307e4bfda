"""Google Gemini ``generateContent`` / ``streamGenerateContent?alt=sse``, from OpenAI chat.

The key travels in ``x-goog-api-key``, never in the URL (URLs end up in logs). Gemini 3
returns a ``thoughtSignature`` on function calls and wants it back on the next turn; it is
carried inside the tool call id we hand the client (``<id>__ts__<signature>``), so the
round trip works with any OpenAI client and no server-side state. Stream chunks repeat
usage cumulatively (the last one wins) and there is no ``[DONE]``: a stream without a
``finishReason`` is treated as truncated.
"""

from __future__ import annotations

import json
import mimetypes
import re
import uuid
from typing import TYPE_CHECKING, Any

import httpx

from orchestra.providers import http_provider, wire
from orchestra.providers.base import CallOptions, ProviderConfig
from orchestra.providers.chunks import ChunkFactory
from orchestra.providers.http_provider import SseProvider
from orchestra.schemas.chat import (
    ChatChunk,
    ChatMessage,
    ChatRequest,
    ChatResponse,
    Usage,
)
from orchestra.transport.http import (
    HttpClients,
    error_message,
    json_or_none,
    parse_duration,
    parse_retry_after,
)
from orchestra.transport.sse import SSEEvent

if TYPE_CHECKING:
    from orchestra.schemas.chat import FinishReason

DEFAULT_BASE = "https://generativelanguage.googleapis.com/v1beta"
SIGNATURE_MARK = "__ts__"
FILTERED = {"SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY"}
UNSUPPORTED_SCHEMA_KEYS = {"$schema", "additionalProperties", "strict", "$id", "examples"}
CONTEXT_PHRASES = re.compile(
    r"exceeds the maximum number of tokens|input token count|too many tokens|context",
    re.IGNORECASE,
)


# --- request -------------------------------------------------------------------------


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
        "maxOutputTokens": request.output_limit(),
        "stopSequences": request.stop_list() or None,
        "seed": request.seed,
        "presencePenalty": request.presence_penalty,
        "frequencyPenalty": request.frequency_penalty,
    }
    fmt = request.response_format or {}
    if fmt.get("type") in ("json_object", "json_schema"):
        config["responseMimeType"] = "application/json"
        schema = (fmt.get("json_schema") or {}).get("schema")
        if schema:
            config["responseJsonSchema"] = schema
    return {k: v for k, v in config.items() if v is not None}


def to_contents(messages: list[ChatMessage]) -> list[dict[str, Any]]:
    names = {c.id: c.function.name for m in messages for c in m.tool_calls or []}
    return wire.alternating_turns(
        messages, lambda m: _parts(m, names), assistant="model", key="parts"
    )


def _parts(message: ChatMessage, names: dict[str, str]) -> list[dict[str, Any]]:
    if message.role in ("tool", "function"):
        call_id = message.tool_call_id or ""
        name = names.get(call_id) or message.name or "tool"
        return [{"functionResponse": {"name": name, "response": {"result": message.text()}}}]
    parts = _content_parts(message)
    for call in message.tool_calls or []:
        part: dict[str, Any] = {
            "functionCall": {
                "name": call.function.name,
                "args": wire.json_object(call.function.arguments),
            }
        }
        _, _, signature = call.id.partition(SIGNATURE_MARK)
        if signature:
            part["thoughtSignature"] = signature
        parts.append(part)
    return parts


def _content_parts(message: ChatMessage) -> list[dict[str, Any]]:
    if isinstance(message.content, str):
        return [{"text": message.content}] if message.content else []
    parts: list[dict[str, Any]] = []
    for item in message.content or []:
        if item.get("type") == "text" and item.get("text"):
            parts.append({"text": item["text"]})
        elif item.get("type") == "image_url":
            parts.append(_image_part(item))
    return parts


def _image_part(item: dict[str, Any]) -> dict[str, Any]:
    url = wire.image_url(item.get("image_url"))
    if match := wire.DATA_URL.match(url):
        return {"inlineData": {"mimeType": match["mime"], "data": match["data"]}}
    mime = mimetypes.guess_type(url.split("?", 1)[0])[0] or "image/jpeg"
    return {"fileData": {"fileUri": url, "mimeType": mime}}


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


# --- response ------------------------------------------------------------------------


def parse_usage(raw: Any) -> Usage:
    raw = raw if isinstance(raw, dict) else {}
    completion = int(raw.get("candidatesTokenCount") or 0) + int(raw.get("thoughtsTokenCount") or 0)
    return Usage.of(int(raw.get("promptTokenCount") or 0), completion)


def finish_reason(raw: str | None, has_calls: bool) -> FinishReason:
    if raw == "MAX_TOKENS":
        return "length"
    if raw in FILTERED:
        return "content_filter"
    return "tool_calls" if has_calls else "stop"


def _call(part: dict[str, Any]) -> dict[str, Any]:
    call = part["functionCall"]
    call_id = call.get("id") or f"call_{uuid.uuid4().hex[:24]}"
    if part.get("thoughtSignature"):
        call_id += SIGNATURE_MARK + part["thoughtSignature"]
    arguments = json.dumps(call.get("args") or {})
    return {
        "id": call_id,
        "type": "function",
        "function": {"name": call["name"], "arguments": arguments},
    }


def split_parts(candidate: dict[str, Any]) -> tuple[str, list[dict[str, Any]]]:
    """A candidate's visible text and its function calls (thought parts left out)."""
    parts = (candidate.get("content") or {}).get("parts") or []
    text = "".join(p.get("text", "") for p in parts if "text" in p and not p.get("thought"))
    calls = [_call(p) for p in parts if "functionCall" in p]
    return text, calls


def parse_response(body: Any, model: str) -> ChatResponse:
    if not isinstance(body, dict):
        raise TypeError("response is not an object")
    candidates = body.get("candidates") or []
    if not candidates:  # blocked prompt: promptFeedback.blockReason, no candidates
        if not body.get("promptFeedback"):
            raise KeyError("candidates")
        text, reason = "", "content_filter"
        calls: list[dict[str, Any]] = []
    else:
        text, calls = split_parts(candidates[0])
        reason = finish_reason(candidates[0].get("finishReason"), bool(calls))
    return ChatResponse.model_validate(
        {
            "id": body.get("responseId") or "",
            "model": model,
            "choices": [
                {
                    "message": {"content": text or None, "tool_calls": calls or None},
                    "finish_reason": reason,
                }
            ],
            "usage": parse_usage(body.get("usageMetadata")),
        }
    )


def read_error(status: int, headers: httpx.Headers, raw: bytes) -> wire.ErrorReading:
    body = json_or_none(raw)
    if isinstance(body, list) and body:  # the non-SSE stream wraps errors in an array
        body = body[0]
    err = body.get("error") if isinstance(body, dict) else None
    err = err if isinstance(err, dict) else {}
    details = [d for d in err.get("details") or [] if isinstance(d, dict)]
    retry_after = parse_retry_after(headers)
    for detail in details:
        if str(detail.get("@type", "")).endswith("google.rpc.RetryInfo"):
            retry_after = parse_duration(detail.get("retryDelay")) or retry_after
    if any(d.get("reason") == "API_KEY_INVALID" for d in details):
        status = 401  # an invalid key answers 400 INVALID_ARGUMENT
    message = error_message(body, f"HTTP {status}")
    too_long = status == 400 and bool(CONTEXT_PHRASES.search(message))
    code = err.get("status")
    return wire.ErrorReading(
        status, message, code if isinstance(code, str) else None, too_long, retry_after
    )


# --- streaming -----------------------------------------------------------------------


class StreamState(http_provider.StreamState):
    """Whole ``GenerateContentResponse`` objects in, OpenAI chunks out."""

    def __init__(self, model: str) -> None:
        self.chunks = ChunkFactory(model)
        self.started = False
        self.calls = 0
        self.usage = Usage()

    def feed(self, data: dict[str, Any]) -> list[ChatChunk]:
        out: list[ChatChunk] = []
        if not self.started:
            self.chunks.id = data.get("responseId") or self.chunks.id
            self.started = True
            out.append(self.chunks.role())
        if data.get("usageMetadata"):
            self.usage = parse_usage(data["usageMetadata"])  # cumulative: the last one wins
        candidates = data.get("candidates") or []
        if not candidates:
            if (data.get("promptFeedback") or {}).get("blockReason"):
                out.append(self.chunks.finish("content_filter"))
            return out
        text, calls = split_parts(candidates[0])
        if text:
            out.append(self.chunks.text(text))
        for call in calls:
            fn = call["function"]
            out.append(
                self.chunks.tool_call(
                    self.calls, call_id=call["id"], name=fn["name"], arguments=fn["arguments"]
                )
            )
            self.calls += 1
        if candidates[0].get("finishReason"):
            out.append(
                self.chunks.finish(finish_reason(candidates[0]["finishReason"], self.calls > 0))
            )
        return out

    def close(self) -> ChatChunk:
        return self.chunks.usage(self.usage.prompt_tokens, self.usage.completion_tokens)


# --- provider ------------------------------------------------------------------------


class GeminiProvider(SseProvider[StreamState]):
    """The Gemini API at ``base_url`` (default the public v1beta endpoint)."""

    response_parser = staticmethod(parse_response)
    error_reader = staticmethod(read_error)

    def __init__(self, config: ProviderConfig, http: HttpClients) -> None:
        super().__init__(config, http)
        self.base = (config.base_url or DEFAULT_BASE).rstrip("/")
        self.headers = {"content-type": "application/json", **config.headers}
        if config.api_key:
            self.headers["x-goog-api-key"] = config.api_key

    def build_request(
        self, request: ChatRequest, model: str, options: CallOptions, *, stream: bool
    ) -> httpx.Request:
        action = "streamGenerateContent?alt=sse" if stream else "generateContent"
        url = f"{self.base}/models/{model}:{action}"
        return self.post(url, options, self.headers, json=to_body(request, model))

    def stream_state(self, request: ChatRequest, model: str) -> StreamState:
        return StreamState(model)

    def parse_event(self, state: StreamState, event: SSEEvent, model: str) -> list[ChatChunk]:
        data = json.loads(event.data)
        if not isinstance(data, dict):
            raise TypeError("stream event is not an object")
        if isinstance(error := data.get("error"), dict):
            code = error.get("code")
            status = code if isinstance(code, int) else 500
            raise self.map_error(status, httpx.Headers(), event.data.encode(), model)
        return state.feed(data)

    def end_stream(self, state: StreamState, model: str) -> list[ChatChunk]:
        if not state.chunks.finished:
            raise self.cut(model, "without a finishReason")
        return [state.close()]
