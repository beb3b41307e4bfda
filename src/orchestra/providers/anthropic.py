"""Anthropic Messages API (``POST /v1/messages``), translated to and from OpenAI chat.

The mapping is in :mod:`~orchestra.providers.anthropic_request` (the body, thinking, cache
control, documents, the same-format passthrough), :mod:`~orchestra.providers.anthropic_response`
(answers and errors) and :mod:`~orchestra.providers.anthropic_stream` (stream events).
Streams are typed SSE events: usage totals arrive in ``message_delta``, ``ping`` frames come
and go, and a stream may end with ``event: error`` and no ``message_stop``: that raises.

The client's ``anthropic-beta`` values (kept by an inbound format in the request's
``anthropic_beta`` extra field) are sent as the ``anthropic-beta`` header, after any
configured one; they never go in the body.

Structured output (``response_format``) is asked for with a reserved tool
(:mod:`~orchestra.providers.json_tool`), whose input comes back as the answer's text.
"""

from __future__ import annotations

import json

import httpx

from orchestra.errors import ProviderBadRequest
from orchestra.providers.anthropic_request import beta_header, to_body
from orchestra.providers.anthropic_response import parse_response, parse_usage, read_error
from orchestra.providers.anthropic_stream import StreamState
from orchestra.providers.base import CallOptions, ProviderConfig
from orchestra.providers.http_provider import SseProvider
from orchestra.providers.json_tool import JsonStream, answer, plan
from orchestra.providers.wire import UnsupportedContent
from orchestra.schemas.chat import ChatChunk, ChatRequest, ChatResponse
from orchestra.transport.http import HttpClients
from orchestra.transport.sse import SSEEvent

__all__ = [
    "API_VERSION",
    "AnthropicProvider",
    "StreamState",
    "parse_response",
    "parse_usage",
    "read_error",
    "to_body",
]

API_VERSION = "2023-06-01"
BETA = "anthropic-beta"


class AnthropicProvider(SseProvider[StreamState]):
    """The Messages API at ``base_url`` (default https://api.anthropic.com)."""

    response_parser = staticmethod(parse_response)
    error_reader = staticmethod(read_error)

    def __init__(self, config: ProviderConfig, http: HttpClients) -> None:
        super().__init__(config, http)
        base = (config.base_url or "https://api.anthropic.com").rstrip("/")
        self.url = base + ("/messages" if base.endswith("/v1") else "/v1/messages")
        configured = {k: v for k, v in config.headers.items() if k.lower() != BETA}
        self.beta = next((v for k, v in config.headers.items() if k.lower() == BETA), None)
        self.headers = {
            "content-type": "application/json",
            "anthropic-version": API_VERSION,
            **configured,
        }
        if self.beta:
            self.headers[BETA] = self.beta
        if config.api_key:
            self.headers["x-api-key"] = config.api_key

    def supports_prefill(self, model: str) -> bool:
        """Messages continues a final assistant turn (sent as the last ``messages`` entry)."""
        return True

    def build_request(
        self, request: ChatRequest, model: str, options: CallOptions, *, stream: bool
    ) -> httpx.Request:
        try:
            body = to_body(request, model, stream=stream)
        except UnsupportedContent as exc:
            raise ProviderBadRequest(
                str(exc), provider=self.name, model=model, param=exc.param
            ) from exc
        headers = self.headers
        beta = beta_header(request, self.beta)
        if beta != self.beta and beta is not None:
            headers = {**headers, BETA: beta}
        return self.post(self.url, options, headers, json=body)

    async def complete(
        self, request: ChatRequest, model: str, options: CallOptions
    ) -> ChatResponse:
        """The answer, the reserved JSON tool's call made its text (``response_format``)."""
        response = await super().complete(request, model, options)
        return answer(response, plan(request, thinking_on=False))

    def stream_state(self, request: ChatRequest, model: str) -> StreamState:
        return StreamState(model, JsonStream(plan(request, thinking_on=False)))

    def parse_event(self, state: StreamState, event: SSEEvent, model: str) -> list[ChatChunk]:
        data = json.loads(event.data)
        if event.event == "error" or data.get("type") == "error":
            raise self.map_error(200, httpx.Headers(), event.data.encode(), model)
        return state.feed(data)

    def end_stream(self, state: StreamState, model: str) -> list[ChatChunk]:
        if not state.done:
            raise self.cut(model, "before message_stop")
        return []
