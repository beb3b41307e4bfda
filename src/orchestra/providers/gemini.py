"""Google Gemini ``generateContent`` / ``streamGenerateContent?alt=sse``, from OpenAI chat.

The key travels in ``x-goog-api-key``, never in the URL (URLs end up in logs). The request
body is built in :mod:`orchestra.providers.gemini_request` (or is the client's own, when it
came in as a Gemini request). Thought parts come back as ``reasoning_content``. Gemini 3
returns a ``thoughtSignature`` on function calls and wants it back on the next turn: it
becomes the tool call's ``thought_signature`` and is also carried inside the tool call id
we hand the client (``<id>__ts__<signature>``), so the round trip works with any OpenAI
client and no server-side state. Stream chunks repeat usage cumulatively (the last one
wins) and there is no ``[DONE]``: a stream without a ``finishReason`` is treated as
truncated.
"""

from __future__ import annotations

import json
import re
import uuid
from typing import TYPE_CHECKING, Any, NamedTuple

import httpx

from orchestra.providers import http_provider, wire
from orchestra.providers.base import CallOptions, ProviderConfig
from orchestra.providers.chunks import ChunkFactory
from orchestra.providers.gemini_request import SIGNATURE_MARK, native_body, to_body
from orchestra.providers.http_provider import SseProvider
from orchestra.schemas.chat import (
    ChatChunk,
    ChatRequest,
    ChatResponse,
    ChunkChoice,
    Delta,
    NativeBody,
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
FILTERED = {"SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY"}
CONTEXT_PHRASES = re.compile(
    r"exceeds the maximum number of tokens|input token count|too many tokens|context",
    re.IGNORECASE,
)


# --- response ------------------------------------------------------------------------


def parse_usage(raw: Any) -> Usage:
    """``usageMetadata``: thoughts count as completion (and as its reasoning), the cached
    part of the prompt as cached (``promptTokenCount`` includes it)."""
    raw = raw if isinstance(raw, dict) else {}
    thoughts = _count(raw.get("thoughtsTokenCount"))
    return Usage.of(
        _count(raw.get("promptTokenCount")),
        _count(raw.get("candidatesTokenCount")) + thoughts,
        cached=_count(raw.get("cachedContentTokenCount")),
        reasoning=thoughts,
    )


def _count(value: Any) -> int:
    return int(value) if isinstance(value, int | float) else 0


def finish_reason(raw: str | None, has_calls: bool) -> FinishReason:
    if raw == "MAX_TOKENS":
        return "length"
    if raw in FILTERED:
        return "content_filter"
    return "tool_calls" if has_calls else "stop"


def _call(part: dict[str, Any]) -> dict[str, Any]:
    call = part["functionCall"]
    call_id = call.get("id") or f"call_{uuid.uuid4().hex[:24]}"
    out: dict[str, Any] = {"type": "function"}
    if signature := part.get("thoughtSignature"):
        call_id += SIGNATURE_MARK + signature
        out["thought_signature"] = signature
    arguments = json.dumps(call.get("args") or {})
    return {"id": call_id, **out, "function": {"name": call["name"], "arguments": arguments}}


class Parts(NamedTuple):
    """A candidate's parts, sorted: visible text, thought text, function calls."""

    text: str
    reasoning: str
    calls: list[dict[str, Any]]


def split_parts(candidate: dict[str, Any]) -> Parts:
    parts = (candidate.get("content") or {}).get("parts") or []
    texts = [p for p in parts if isinstance(p.get("text"), str)]
    return Parts(
        "".join(p["text"] for p in texts if not p.get("thought")),
        "".join(p["text"] for p in texts if p.get("thought")),
        [_call(p) for p in parts if "functionCall" in p],
    )


def parse_response(body: Any, model: str) -> ChatResponse:
    if not isinstance(body, dict):
        raise TypeError("response is not an object")
    candidates = body.get("candidates") or []
    if not candidates:  # blocked prompt: promptFeedback.blockReason, no candidates
        if not body.get("promptFeedback"):
            raise KeyError("candidates")
        parts, reason = Parts("", "", []), "content_filter"
    else:
        parts = split_parts(candidates[0])
        reason = finish_reason(candidates[0].get("finishReason"), bool(parts.calls))
    message = {
        "content": parts.text or None,
        "tool_calls": parts.calls or None,
        "reasoning_content": parts.reasoning or None,
    }
    return ChatResponse.model_validate(
        {
            "id": body.get("responseId") or "",
            "model": model,
            "choices": [{"message": message, "finish_reason": reason}],
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
        parts = split_parts(candidates[0])
        if parts.reasoning:
            out.append(self.reasoning(parts.reasoning))
        if parts.text:
            out.append(self.chunks.text(parts.text))
        for call in parts.calls:
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

    def reasoning(self, text: str) -> ChatChunk:
        factory = self.chunks
        return ChatChunk(
            id=factory.id,
            created=factory.created,
            model=factory.model,
            choices=[ChunkChoice(delta=Delta(reasoning_content=text))],
        )

    def close(self) -> ChatChunk:
        usage = self.usage
        return self.chunks.usage(
            usage.prompt_tokens,
            usage.completion_tokens,
            cached=usage.cached_tokens,
            reasoning=usage.reasoning_tokens,
        )


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
        body = native_body(request)
        if body is None:
            body = to_body(request, model)
        return self.post(url, options, self.headers, json=body)

    def parse_response(self, data: Any, model: str) -> ChatResponse:
        """The answer, with the vendor's own body for a client speaking Gemini."""
        response = parse_response(data, model)
        return response.with_native(NativeBody(format="gemini", body=data))

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
