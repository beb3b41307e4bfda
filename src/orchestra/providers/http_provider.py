"""The skeleton every HTTP adapter shares; an adapter fills in only its wire mapping.

:class:`HttpProvider` owns the configured upstream (name, config, the shared client) and the
call itself: build the request, send it through :func:`~orchestra.transport.http.post_json`
or :func:`~orchestra.transport.http.send_streaming` inside one
:func:`~orchestra.transport.http.map_errors`, and turn every error answer into a typed error
through one :data:`~orchestra.transport.http.ErrorFactory`. The hooks an adapter implements:

- :meth:`~HttpProvider.build_request`: a chat request as the vendor's HTTP request (auth, URL);
- :meth:`~HttpProvider.parse_response`: the vendor's JSON answer as a :class:`ChatResponse`;
- :meth:`~HttpProvider.parse_event`: one stream event as chunks, with :meth:`~HttpProvider.
  stream_state` (what one stream remembers) and :meth:`~HttpProvider.end_stream` (the chunks
  after the last event, or the error for a stream cut short); :class:`SseProvider` reads the
  events as server-sent events, an adapter with another framing overrides ``events``;
- :meth:`~HttpProvider.map_error`: an error answer (status, headers, body) as a typed error.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable
from typing import Any, Generic, TypeVar

import httpx
import pydantic_core

from orchestra.errors import MalformedResponse, ProviderError
from orchestra.providers.base import CallOptions, ProviderConfig
from orchestra.providers.wire import ErrorReading
from orchestra.schemas.chat import ChatChunk, ChatRequest, ChatResponse
from orchestra.transport.http import (
    USER_AGENT,
    ErrorFactory,
    HttpClients,
    error_for_status,
    map_errors,
    post_json,
    post_request,
    send_streaming,
    timeout_for,
)
from orchestra.transport.sse import SSEEvent, aiter_sse

_URL_CACHE = 256


class StreamState:
    """What one stream has seen so far; each adapter keeps its own in a subclass.

    ``done``: the vendor said the stream is over, so nothing after is read.
    """

    done: bool = False


EventT = TypeVar("EventT")
StateT = TypeVar("StateT", bound=StreamState)


class HttpProvider(ABC, Generic[EventT, StateT]):
    """One configured upstream spoken to over HTTP: the :class:`Provider` calls, once.

    ``response_parser`` and ``error_reader`` are the adapter module's pure functions, used
    by the default :meth:`parse_response` and :meth:`map_error`.
    """

    response_parser: Callable[[Any, str], ChatResponse]
    error_reader: Callable[[int, httpx.Headers, bytes], ErrorReading]

    def __init__(self, config: ProviderConfig, http: HttpClients) -> None:
        self.name = config.name
        self.config = config
        self.http = http
        self._urls: dict[str, httpx.URL] = {}

    # --- hooks -------------------------------------------------------------------------

    @abstractmethod
    def build_request(
        self, request: ChatRequest, model: str, options: CallOptions, *, stream: bool
    ) -> httpx.Request:
        """The vendor's HTTP request for ``request`` (usually through :meth:`post`)."""

    def parse_response(self, data: Any, model: str) -> ChatResponse:
        """The vendor's JSON answer as a response (a shape error raises, and is mapped)."""
        return self.response_parser(data, model)

    def map_error(
        self, status: int, headers: httpx.Headers, raw: bytes, model: str
    ) -> ProviderError:
        """An error answer (or an in-band stream error) as a typed error."""
        return self.typed(self.error_reader(status, headers, raw), model)

    def typed(self, error: ErrorReading, model: str) -> ProviderError:
        """The typed error for what an error answer said (the one place they are made)."""
        return error_for_status(
            error.status,
            error.message,
            provider=self.name,
            model=model,
            retry_after=error.retry_after,
            context_length=error.context_length,
            code=error.code,
        )

    @abstractmethod
    def stream_state(self, request: ChatRequest, model: str) -> StateT:
        """A fresh state for one stream."""

    @abstractmethod
    def events(self, response: httpx.Response, model: str) -> AsyncIterator[EventT]:
        """The stream's events, decoded from its framing."""

    @abstractmethod
    def parse_event(self, state: StateT, event: EventT, model: str) -> list[ChatChunk]:
        """One stream event as the chunks it makes (often none); in-band errors raise."""

    @abstractmethod
    def end_stream(self, state: StateT, model: str) -> list[ChatChunk]:
        """The chunks after the last event; a stream cut short raises (see :meth:`cut`)."""

    def supports_prefill(self, model: str) -> bool:
        """Whether ``model`` here continues a request's final assistant message (a
        prefill) instead of answering after it: mid-stream continuation then sends the
        partial answer that way (``generate/continuation.py``). Per model, since one
        upstream may serve families that differ (Bedrock: Claude does, others do not)."""
        return False

    # --- shared ------------------------------------------------------------------------

    def post(
        self,
        url: str,
        options: CallOptions,
        headers: dict[str, str],
        *,
        json: Any = None,
        content: bytes | None = None,
    ) -> httpx.Request:
        """A POST for the shared transport, bounded by the call's timeout.

        Built directly (the URL parsed once per provider and URL, the body encoded by
        pydantic-core) rather than through ``AsyncClient.build_request``: on the hot path
        that saves a URL merge and parse, a cookie merge and the standard library's JSON.
        """
        timeout = timeout_for(options.timeout, self.config.connect_timeout)
        body = content if content is not None else pydantic_core.to_json(json)
        sent = httpx.Headers(headers)
        if "user-agent" not in sent:  # a configured one wins
            sent["user-agent"] = USER_AGENT
        return post_request(self._url(url), sent, body, timeout)

    def _url(self, url: str) -> httpx.URL:
        parsed = self._urls.get(url)
        if parsed is None:
            if len(self._urls) >= _URL_CACHE:  # model names in URLs: bounded, never a leak
                self._urls.clear()
            parsed = self._urls[url] = httpx.URL(url)
        return parsed

    def errors(self, model: str) -> ErrorFactory:
        def build(response: httpx.Response, raw: bytes) -> ProviderError:
            return self.map_error(response.status_code, response.headers, raw, model)

        return build

    def cut(self, model: str, how: str) -> MalformedResponse:
        """The error for a stream that ended ``how`` (before its answer was complete)."""
        return MalformedResponse(
            f"{self.name} ended the stream {how}", provider=self.name, model=model
        )

    async def complete(
        self, request: ChatRequest, model: str, options: CallOptions
    ) -> ChatResponse:
        with map_errors(self.name, model):
            http_request = self.build_request(request, model, options, stream=False)
            data = await post_json(self.http, http_request, self.errors(model), options.on_headers)
            return self.parse_response(data, model)

    async def stream(
        self, request: ChatRequest, model: str, options: CallOptions
    ) -> AsyncIterator[ChatChunk]:
        state = self.stream_state(request, model)
        with map_errors(self.name, model):
            http_request = self.build_request(request, model, options, stream=True)
            sent = send_streaming(self.http, http_request, self.errors(model), options.on_headers)
            async with sent as r:
                async for event in self.events(r, model):
                    for chunk in self.parse_event(state, event, model):
                        yield chunk
                    if state.done:
                        break
        for chunk in self.end_stream(state, model):
            yield chunk


class SseProvider(HttpProvider[SSEEvent, StateT]):
    """An adapter whose streams are server-sent events."""

    def events(self, response: httpx.Response, model: str) -> AsyncIterator[SSEEvent]:
        return aiter_sse(response.aiter_bytes())
