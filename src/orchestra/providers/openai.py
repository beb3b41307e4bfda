"""OpenAI-compatible chat completions: OpenAI, OpenRouter, Groq, Together, Mistral,
DeepSeek, Ollama, vLLM, LM Studio and any other server speaking ``/chat/completions``.

The wire format is already Orchestra's own, so translation is mostly pass-through; the work
is in the edges: vendor quirks in streams (OpenRouter comment lines and in-band errors,
repeated ``role`` fields, ``usage: null`` padding) and mapping every error to a typed one.
Pure functions (``to_body``, ``parse_response``, ``parse_chunk``, ``error_from``) are
tested directly against recorded payloads; :class:`OpenAIProvider` owns auth and base URL.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from typing import Any

import httpx

from orchestra.errors import MalformedResponse, ProviderError
from orchestra.providers.base import CallOptions, ProviderConfig
from orchestra.schemas.chat import ChatChunk, ChatRequest, ChatResponse, Usage
from orchestra.tokens import estimate_prompt_tokens, estimate_text_tokens
from orchestra.transport.http import (
    HttpClients,
    error_for_status,
    error_message,
    json_or_none,
    map_errors,
    parse_retry_after,
    post_json,
    send_streaming,
    timeout_for,
)
from orchestra.transport.sse import aiter_sse

#: Orchestra's own request fields, never forwarded upstream
OWN_FIELDS = {"fallbacks", "profile", "model", "stream", "stream_options"}
CONTEXT_CODES = {"context_length_exceeded", "string_above_max_length"}
#: how compatible servers without an error code say the prompt is too long (vLLM, Groq,
#: Together, Mistral, Ollama); a vendor's wording is the only signal they give
CONTEXT_PHRASES = re.compile(
    r"maximum context length|context[_ ]length|context window|too many tokens|"
    r"prompt is too long|reduce the length of the messages",
    re.IGNORECASE,
)


def to_body(request: ChatRequest, model: str, *, stream: bool) -> dict[str, Any]:
    """The upstream request body: the client's fields (vendor extras included) minus ours."""
    body = request.model_dump(exclude_none=True, exclude=OWN_FIELDS)
    body["model"] = model
    body["messages"] = [m.model_dump(exclude_none=True) for m in request.messages]
    if stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    return body


def parse_usage(raw: Any) -> Usage | None:
    if not isinstance(raw, dict):
        return None
    prompt = int(raw.get("prompt_tokens") or 0)
    completion = int(raw.get("completion_tokens") or 0)
    return Usage.of(prompt, completion)


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
        delta = dict(choice.get("delta") or {})
        if not first:
            delta.pop("role", None)  # OpenRouter repeats it in every chunk
        delta = {k: v for k, v in delta.items() if k in ("role", "content", "tool_calls")}
        finish = _finish(choice.get("finish_reason"))
        if not first and finish is None and not delta.get("content") and "tool_calls" not in delta:
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


def error_from(
    status: int, headers: httpx.Headers, raw: bytes, *, provider: str, model: str
) -> ProviderError:
    """Any error answer (HTTP status or an in-band ``error`` object) as a typed error."""
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
    return error_for_status(
        status,
        message,
        provider=provider,
        model=model,
        retry_after=parse_retry_after(headers),
        context_length=too_long,
        code=code if isinstance(code, str) else None,
    )


class OpenAIProvider:
    """One OpenAI-compatible upstream: base URL, bearer key, extra headers."""

    def __init__(self, config: ProviderConfig, http: HttpClients) -> None:
        if not config.base_url:
            raise ValueError(f"provider {config.name} needs a base_url")
        self.name = config.name
        self.config = config
        self.http = http
        self.url = config.base_url.rstrip("/") + "/chat/completions"
        self.headers = {"content-type": "application/json", **config.headers}
        if config.api_key:
            self.headers["authorization"] = f"Bearer {config.api_key}"

    def _request(self, body: dict[str, Any], options: CallOptions) -> httpx.Request:
        client = self.http.get()
        timeout = timeout_for(options.timeout, self.config.connect_timeout)
        return client.build_request(
            "POST", self.url, json=body, headers=self.headers, timeout=timeout
        )

    def _error(self, model: str) -> Any:
        def build(response: httpx.Response, raw: bytes) -> ProviderError:
            return error_from(
                response.status_code, response.headers, raw, provider=self.name, model=model
            )

        return build

    async def complete(
        self, request: ChatRequest, model: str, options: CallOptions
    ) -> ChatResponse:
        body = to_body(request, model, stream=False)
        with map_errors(self.name, model):
            data = await post_json(
                self.http.get(), self._request(body, options), self._error(model)
            )
            return parse_response(data, model)

    async def stream(
        self, request: ChatRequest, model: str, options: CallOptions
    ) -> AsyncIterator[ChatChunk]:
        body = to_body(request, model, stream=True)
        client = self.http.get()
        tally = _Tally(estimate_prompt_tokens(request))
        with map_errors(self.name, model):
            async with send_streaming(
                client, self._request(body, options), self._error(model)
            ) as r:
                if r.headers.get("content-type", "").startswith("application/json"):
                    chunks = self._whole(await r.aread(), model)  # a server that ignored stream
                else:
                    chunks = self._chunks(r, model)
                async for chunk in chunks:
                    tally.see(chunk)
                    yield chunk
        if tally.usage is None:  # servers without include_usage: an estimate, never nothing
            yield ChatChunk(id=tally.id, model=model, usage=tally.estimate())

    async def _whole(self, raw: bytes, model: str) -> AsyncIterator[ChatChunk]:
        response = parse_response(json.loads(raw), model)
        choice = response.choices[0]
        yield ChatChunk.model_validate(
            {
                "id": response.id,
                "model": model,
                "choices": [
                    {"delta": {"role": "assistant", "content": choice.message.content or ""}}
                ],
            }
        )
        if choice.message.tool_calls:
            calls = [
                {"index": i, **c.model_dump()} for i, c in enumerate(choice.message.tool_calls)
            ]
            yield ChatChunk.model_validate(
                {"id": response.id, "model": model, "choices": [{"delta": {"tool_calls": calls}}]}
            )
        yield ChatChunk.model_validate(
            {
                "id": response.id,
                "model": model,
                "choices": [{"delta": {}, "finish_reason": choice.finish_reason or "stop"}],
            }
        )
        if response.usage is not None:
            yield ChatChunk(id=response.id, model=model, usage=response.usage)

    async def _chunks(self, response: httpx.Response, model: str) -> AsyncIterator[ChatChunk]:
        """The stream's chunks; from the first finish on they are held until the stream ends
        cleanly, so an in-band error after a finish (OpenRouter) is never preceded by one."""
        first, done = True, False
        held: list[ChatChunk] = []
        async for event in aiter_sse(response.aiter_bytes()):
            if event.data.strip() == "[DONE]":
                done = True
                break
            data = json.loads(event.data)
            if not isinstance(data, dict):
                raise TypeError("stream event is not an object")
            if data.get("error"):
                raise self._in_band_error(response, event.data, model)
            chunk = parse_chunk(data, model, first=first)
            if chunk is None:
                continue
            first = False
            if held or any(c.finish_reason for c in chunk.choices):
                held.append(chunk)
            else:
                yield chunk
        if not held:
            raise MalformedResponse(
                f"{self.name} ended the stream before the answer finished"
                + ("" if done else " (no [DONE])"),
                provider=self.name,
                model=model,
            )
        for chunk in held:
            yield chunk

    def _in_band_error(self, response: httpx.Response, data: str, model: str) -> ProviderError:
        return error_from(
            response.status_code, httpx.Headers(), data.encode(), provider=self.name, model=model
        )


class _Tally:
    """What a stream has produced so far, to estimate usage when the vendor sends none."""

    def __init__(self, prompt_tokens: int) -> None:
        self.prompt_tokens = prompt_tokens
        self.text: list[str] = []
        self.usage: Usage | None = None
        self.id = ""

    def see(self, chunk: ChatChunk) -> None:
        self.id = self.id or chunk.id
        if chunk.usage is not None:
            self.usage = chunk.usage
        for choice in chunk.choices:
            self.text.append(choice.delta.content or "")
            for call in choice.delta.tool_calls or []:
                self.text.append((call.function or {}).get("arguments", ""))

    def estimate(self) -> Usage:
        return Usage.of(self.prompt_tokens, estimate_text_tokens("".join(self.text)))
