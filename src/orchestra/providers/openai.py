"""OpenAI-compatible chat completions: OpenAI, OpenRouter, Groq, Together, Mistral,
DeepSeek, Ollama, vLLM, LM Studio and any other server speaking ``/chat/completions``.

The wire format is already Orchestra's own, so translation is mostly pass-through; the work
is in the edges: vendor quirks in streams (OpenRouter comment lines and in-band errors,
repeated ``role`` fields, ``usage: null`` padding) and mapping every error to a typed one.
Reasoning comes back as ``reasoning_content`` whichever field the vendor used, and usage
keeps its cached and reasoning details. The request body, shaped per vendor, is built in
:mod:`orchestra.providers.openai_request`. Pure functions (``to_body``, ``parse_response``,
``parse_chunk``, ``read_error``) are tested directly against recorded payloads;
:class:`OpenAIProvider` owns auth, base URL and which vendor it speaks to.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from typing import Any

import httpx

from orchestra.errors import InvalidRequest, ProviderBadRequest
from orchestra.providers.base import CallOptions, ProviderConfig
from orchestra.providers.http_provider import HttpProvider, StreamState
from orchestra.providers.openai_request import to_body, vendor_of
from orchestra.providers.openai_responses import (
    ResponsesStream,
    parse_responses_answer,
    responses_body,
    speaks_responses,
    stream_error,
)
from orchestra.providers.wire import ErrorReading
from orchestra.schemas.chat import ChatChunk, ChatRequest, ChatResponse, Usage
from orchestra.tokens import estimate_prompt_tokens, estimate_text_tokens
from orchestra.transport.http import HttpClients, error_message, json_or_none, parse_retry_after
from orchestra.transport.sse import SSEEvent, aiter_sse

#: what a stream delta carries on (besides ``role`` on the first, and reasoning)
DELTA_FIELDS = ("content", "tool_calls")
CONTEXT_CODES = {"context_length_exceeded", "string_above_max_length"}
#: how compatible servers without an error code say the prompt is too long (vLLM, Groq,
#: Together, Mistral, Ollama); a vendor's wording is the only signal they give
CONTEXT_PHRASES = re.compile(
    r"maximum context length|context[_ ]length|context window|too many tokens|"
    r"prompt is too long|reduce the length of the messages",
    re.IGNORECASE,
)


def parse_usage(raw: Any) -> Usage | None:
    """Usage with its details: cached prompt tokens (OpenAI's ``cached_tokens``, DeepSeek's
    ``prompt_cache_hit_tokens``), cache writes (OpenRouter's ``cache_write_tokens``) and
    reasoning tokens (``completion_tokens_details.reasoning_tokens``)."""
    if not isinstance(raw, dict):
        return None
    prompt_details = _object(raw.get("prompt_tokens_details"))
    completion_details = _object(raw.get("completion_tokens_details"))
    return Usage.of(
        _count(raw.get("prompt_tokens")),
        _count(raw.get("completion_tokens")),
        cached=_count(prompt_details.get("cached_tokens") or raw.get("prompt_cache_hit_tokens")),
        cache_creation=_count(prompt_details.get("cache_write_tokens")),
        reasoning=_count(completion_details.get("reasoning_tokens")),
    )


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _count(value: Any) -> int:
    return int(value) if isinstance(value, int | float) else 0


def reasoning_of(message: dict[str, Any]) -> str | None:
    """A message's (or a delta's) reasoning text: ``reasoning_content`` (DeepSeek, vLLM),
    ``reasoning`` (Groq, OpenRouter), else the text of OpenRouter's ``reasoning_details``."""
    for key in ("reasoning_content", "reasoning"):
        if isinstance(text := message.get(key), str) and text:
            return text
    details = message.get("reasoning_details")
    pieces = [
        str(d.get("text") or d.get("summary") or "")
        for d in details or []
        if isinstance(d, dict) and d.get("type") in ("reasoning.text", "reasoning.summary")
    ]
    return "".join(pieces) or None


def parse_response(body: Any, model: str) -> ChatResponse:
    """A completion body into a :class:`ChatResponse` (vendor extras dropped)."""
    if not isinstance(body, dict) or not body.get("choices"):
        raise KeyError("choices")
    choice = body["choices"][0]
    message = choice["message"]
    return ChatResponse.model_validate(
        {
            "id": body.get("id") or "",
            "created": body.get("created") or 0,
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {
                        "role": "assistant",
                        "content": message.get("content"),
                        "tool_calls": message.get("tool_calls") or None,
                        "reasoning_content": reasoning_of(message),
                    },
                    "finish_reason": _finish(choice.get("finish_reason")),
                }
            ],
            "usage": parse_usage(body.get("usage")),
        }
    )


def _finish(reason: Any) -> str | None:
    known = {"stop", "length", "tool_calls", "content_filter", "function_call"}
    if reason is None or reason in known:
        return reason  # type: ignore[no-any-return]
    return "stop"  # vendor-specific reasons ("eos", "end_turn", "error"...) end the answer


def parse_chunk(data: dict[str, Any], model: str, *, first: bool) -> ChatChunk | None:
    """One stream event into a chunk, or ``None`` for events that carry nothing."""
    choices = []
    for choice in data.get("choices") or []:
        raw = choice.get("delta") or {}
        delta = {k: v for k, v in raw.items() if k in DELTA_FIELDS}
        if first and raw.get("role"):  # OpenRouter repeats it in every chunk
            delta["role"] = raw["role"]
        if reasoning := reasoning_of(raw):
            delta["reasoning_content"] = reasoning
        finish = _finish(choice.get("finish_reason"))
        empty = not delta.get("content") and "tool_calls" not in delta
        if not first and finish is None and empty and "reasoning_content" not in delta:
            continue
        choices.append({"index": choice.get("index", 0), "delta": delta, "finish_reason": finish})
    usage = parse_usage(data.get("usage"))
    if not choices and usage is None:
        return None
    return ChatChunk.model_validate(
        {
            "id": data.get("id") or "",
            "created": data.get("created") or 0,
            "model": model,
            "choices": choices,
            "usage": usage,
        }
    )


def read_error(status: int, headers: httpx.Headers, raw: bytes) -> ErrorReading:
    """Any error answer (HTTP status or an in-band ``error`` object), read."""
    body = json_or_none(raw)
    err = body.get("error") if isinstance(body, dict) else None
    err = err if isinstance(err, dict) else {}
    code = err.get("code")
    message = error_message(body, f"HTTP {status}")
    if isinstance(code, int):  # OpenRouter puts the status in ``code``
        status, code = (code if status < 400 else status), None
    if status < 400:  # an in-band error inside a 200 stream
        status = 502
    code = code if isinstance(code, str) else (err.get("type") or None)
    too_long = status in (400, 413) and (
        code in CONTEXT_CODES or bool(CONTEXT_PHRASES.search(message))
    )
    code = code if isinstance(code, str) else None
    return ErrorReading(status, message, code, too_long, parse_retry_after(headers))


class OpenAIProvider(HttpProvider["SSEEvent | bytes", "_Tally | ResponsesStream"]):
    """One OpenAI-compatible upstream: base URL, bearer key, extra headers.

    OpenAI itself (and Azure OpenAI) is also spoken to over its Responses API when the
    client spoke Responses (:mod:`orchestra.providers.openai_responses`): that is what runs
    a client's built-in tools (``runs_builtin_tools``) and passes its own fields through.
    """

    response_parser = staticmethod(parse_response)
    error_reader = staticmethod(read_error)

    def __init__(self, config: ProviderConfig, http: HttpClients) -> None:
        if not config.base_url:
            raise ValueError(f"provider {config.name} needs a base_url")
        super().__init__(config, http)
        self.url = config.base_url.rstrip("/") + "/chat/completions"
        self.responses_url = config.base_url.rstrip("/") + "/responses"
        self.vendor = vendor_of(config)
        #: whether this upstream runs Responses built-in tools (web search, file search...)
        self.runs_builtin_tools = self.vendor == "openai"
        self.headers = {"content-type": "application/json", **config.headers}
        if config.api_key:
            self.headers["authorization"] = f"Bearer {config.api_key}"

    def build_request(
        self, request: ChatRequest, model: str, options: CallOptions, *, stream: bool
    ) -> httpx.Request:
        responses = self.over_responses(request)
        try:
            if responses:
                body = responses_body(request, model, stream=stream)
            else:
                body = to_body(request, model, stream=stream, vendor=self.vendor)
        except InvalidRequest as exc:  # content this vendor cannot take: the client's to fix
            raise ProviderBadRequest(
                exc.message, provider=self.name, model=model, code=exc.code, param=exc.param
            ) from exc
        url = self.responses_url if responses else self.url
        return self.post(url, options, self.headers, json=body)

    def over_responses(self, request: ChatRequest) -> bool:
        """Whether this request goes to ``/responses``: a Responses client's, to OpenAI."""
        return self.runs_builtin_tools and speaks_responses(request)

    def parse_response(self, data: Any, model: str) -> ChatResponse:
        """A chat completion, or (from ``/responses``) a ``response`` object."""
        if isinstance(data, dict) and data.get("object") == "response":
            return parse_responses_answer(data, model)
        return parse_response(data, model)

    def stream_state(self, request: ChatRequest, model: str) -> _Tally | ResponsesStream:
        if self.over_responses(request):
            return ResponsesStream(model)
        return _Tally(estimate_prompt_tokens(request))

    def events(self, response: httpx.Response, model: str) -> AsyncIterator[SSEEvent | bytes]:
        """SSE events; the whole body (bytes) from a server that ignored ``stream``."""
        if response.headers.get("content-type", "").startswith("application/json"):
            return _whole_body(response)
        return aiter_sse(response.aiter_bytes())

    def parse_event(
        self, state: _Tally | ResponsesStream, event: SSEEvent | bytes, model: str
    ) -> list[ChatChunk]:
        """Chunks to send now; from the first finish on they are held until the stream ends
        cleanly, so an in-band error after a finish (OpenRouter) is never preceded by one."""
        if isinstance(state, ResponsesStream):
            return self._responses_event(state, event, model)
        if isinstance(event, bytes):
            state.whole = True
            chunks = state.seen(whole_chunks(parse_response(json.loads(event), model)))
            return [c for c in chunks if c.choices]  # usage goes out last (end_stream)
        if event.data.strip() == "[DONE]":
            state.done = True
            return []
        data = json.loads(event.data)
        if not isinstance(data, dict):
            raise TypeError("stream event is not an object")
        if data.get("error"):  # in-band: the stream's status (under 400) maps like an answer's
            raise self.map_error(200, httpx.Headers(), event.data.encode(), model)
        chunk = parse_chunk(data, model, first=state.first)
        if chunk is None:
            return []
        state.first = False
        if chunk.usage is not None:
            # usage goes out once, in the last chunk: DeepSeek sends it with the finish,
            # some servers with every chunk
            state.usage, chunk.usage = chunk.usage, None
            if not chunk.choices:
                return []
        if state.held or any(c.finish_reason for c in chunk.choices):
            state.held.append(chunk)
            return []
        state.see(chunk)
        return [chunk]

    def _responses_event(
        self, state: ResponsesStream, event: SSEEvent | bytes, model: str
    ) -> list[ChatChunk]:
        """One Responses stream event; ``error`` and ``response.failed`` raise."""
        if isinstance(event, bytes):  # a server that ignored ``stream``
            state.finished = state.done = True
            return whole_chunks(parse_responses_answer(json.loads(event), model))
        data = json.loads(event.data)
        if not isinstance(data, dict):
            raise TypeError("stream event is not an object")
        if (error := stream_error(data)) is not None:
            raise self.map_error(error[0], httpx.Headers(), error[1], model)
        return state.feed(data)

    def end_stream(self, state: _Tally | ResponsesStream, model: str) -> list[ChatChunk]:
        if isinstance(state, ResponsesStream):
            if not state.finished:
                raise self.cut(model, "before the answer finished (no response.completed)")
            return []
        if not state.whole and not state.held:
            raise self.cut(
                model, "before the answer finished" + ("" if state.done else " (no [DONE])")
            )
        chunks = state.seen(state.held)
        # servers without include_usage: an estimate, never nothing
        usage = state.usage or state.estimate()
        return [*chunks, ChatChunk(id=state.id, model=model, usage=usage)]


async def _whole_body(response: httpx.Response) -> AsyncIterator[bytes]:
    yield await response.aread()


def whole_chunks(response: ChatResponse) -> list[ChatChunk]:
    """A whole answer as the chunks of a stream (for servers that ignore ``stream``)."""
    model = response.model
    choice = response.choices[0]
    chunks = [
        ChatChunk.model_validate(
            {
                "id": response.id,
                "model": model,
                "choices": [
                    {"delta": {"role": "assistant", "content": choice.message.content or ""}}
                ],
            }
        )
    ]
    if choice.message.reasoning_content:
        chunks[0].choices[0].delta.reasoning_content = choice.message.reasoning_content
    if choice.message.tool_calls:
        calls = [{"index": i, **c.model_dump()} for i, c in enumerate(choice.message.tool_calls)]
        chunks.append(
            ChatChunk.model_validate(
                {"id": response.id, "model": model, "choices": [{"delta": {"tool_calls": calls}}]}
            )
        )
    chunks.append(
        ChatChunk.model_validate(
            {
                "id": response.id,
                "model": model,
                "choices": [{"delta": {}, "finish_reason": choice.finish_reason or "stop"}],
            }
        )
    )
    if response.usage is not None:
        chunks.append(ChatChunk(id=response.id, model=model, usage=response.usage))
    return chunks


class _Tally(StreamState):
    """What a stream has produced so far, to estimate usage when the vendor sends none."""

    def __init__(self, prompt_tokens: int) -> None:
        self.prompt_tokens = prompt_tokens
        self.text: list[str] = []
        self.usage: Usage | None = None
        self.id = ""
        self.first = True
        self.whole = False  # the server answered with one JSON body
        self.held: list[ChatChunk] = []

    def seen(self, chunks: list[ChatChunk]) -> list[ChatChunk]:
        for chunk in chunks:
            self.see(chunk)
        return chunks

    def see(self, chunk: ChatChunk) -> None:
        self.id = self.id or chunk.id
        if chunk.usage is not None:
            self.usage = chunk.usage
        for choice in chunk.choices:
            self.text.append(choice.delta.content or "")
            self.text.append(choice.delta.reasoning_content or "")
            for call in choice.delta.tool_calls or []:
                self.text.append((call.function or {}).get("arguments", ""))

    def estimate(self) -> Usage:
        return Usage.of(self.prompt_tokens, estimate_text_tokens("".join(self.text)))
