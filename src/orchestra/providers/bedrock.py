"""Amazon Bedrock Converse / ConverseStream, translated to and from OpenAI chat.

boto3's client is synchronous: on the event loop it would block every other request, and in
threads it would need a pool. So the Converse REST API is spoken over the shared httpx
client instead, signed with botocore's SigV4 (:mod:`~orchestra.providers.bedrock_auth`: the
credentials are the function role's, refreshed by botocore). The wire mapping is in
:mod:`~orchestra.providers.bedrock_convert` (request, answer, errors) and
:mod:`~orchestra.providers.bedrock_stream` (event-stream frames and :class:`StreamState`).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

import httpx

from orchestra.errors import MalformedResponse, ProviderBadRequest, ProviderError
from orchestra.providers.base import CallOptions, ProviderConfig
from orchestra.providers.bedrock_auth import SigV4Signer
from orchestra.providers.bedrock_content import ModelTraits
from orchestra.providers.bedrock_convert import (
    UnsupportedContent,
    parse_response,
    read_error,
    to_body,
)
from orchestra.providers.bedrock_stream import StreamState, aiter_frames
from orchestra.providers.http_provider import HttpProvider
from orchestra.providers.json_tool import JsonStream, answer, plan
from orchestra.schemas.chat import ChatChunk, ChatRequest, ChatResponse
from orchestra.tokens import estimate_prompt_tokens
from orchestra.transport.http import HttpClients


class BedrockProvider(HttpProvider[tuple[str, dict[str, Any]], StreamState]):
    """Bedrock Runtime in ``region`` (or at ``base_url``), signed with the ambient role."""

    response_parser = staticmethod(parse_response)

    def __init__(self, config: ProviderConfig, http: HttpClients) -> None:
        if not (config.region or config.base_url):
            raise ValueError(f"provider {config.name} needs a region")
        super().__init__(config, http)
        self.region = config.region or "us-east-1"
        self.base = (
            config.base_url or f"https://bedrock-runtime.{self.region}.amazonaws.com"
        ).rstrip("/")
        self.signer = SigV4Signer(self.name, self.region)

    def supports_prefill(self, model: str) -> bool:
        """Converse continues a final assistant turn for Claude models (as Anthropic does)."""
        return ModelTraits.of(model).claude

    def build_request(
        self, request: ChatRequest, model: str, options: CallOptions, *, stream: bool
    ) -> httpx.Request:
        action = "converse-stream" if stream else "converse"
        url = f"{self.base}/model/{quote(model, safe='')}/{action}"
        body = self._body(request, model)
        headers = {**self.config.headers, "content-type": "application/json"}
        return self.post(url, options, self.signer.headers(url, body, headers, model), content=body)

    def _body(self, request: ChatRequest, model: str) -> bytes:
        try:
            return json.dumps(to_body(request, model), separators=(",", ":")).encode()
        except UnsupportedContent as exc:  # a part Converse cannot take: the client's to fix
            raise ProviderBadRequest(
                str(exc), provider=self.name, model=model, param=exc.param
            ) from exc

    def map_error(
        self, status: int, headers: httpx.Headers, raw: bytes, model: str
    ) -> ProviderError:
        kind = headers.get("x-amzn-errortype")
        return self.typed(read_error(kind, status, headers, raw), model)

    async def complete(
        self, request: ChatRequest, model: str, options: CallOptions
    ) -> ChatResponse:
        """The answer, the reserved JSON tool's call made its text (``response_format``)."""
        response = await super().complete(request, model, options)
        return answer(response, plan(request, thinking_on=False))

    def stream_state(self, request: ChatRequest, model: str) -> StreamState:
        json_stream = JsonStream(plan(request, thinking_on=False))
        return StreamState(model, estimate_prompt_tokens(request), json_stream)

    async def events(
        self, response: httpx.Response, model: str
    ) -> AsyncIterator[tuple[str, dict[str, Any]]]:
        """(event type, payload) per frame; exception and error frames raise typed."""
        from botocore.eventstream import ParserError

        try:
            async for headers, payload in aiter_frames(response.aiter_bytes()):
                kind = headers.get(":message-type")
                if kind in ("exception", "error"):
                    raise self._frame_error(headers, payload, model)
                yield str(headers.get(":event-type")), json.loads(payload)
        except ParserError as exc:  # CRC mismatch, a broken prelude, oversized lengths
            raise MalformedResponse(
                f"{self.name} sent a corrupt event-stream frame", provider=self.name, model=model
            ) from exc

    def _frame_error(self, headers: dict[str, Any], payload: bytes, model: str) -> ProviderError:
        kind = headers.get(":exception-type")
        if headers.get(":message-type") == "error":  # its text is in headers, not the payload
            kind = headers.get(":error-code")
            payload = json.dumps({"message": str(headers.get(":error-message") or "")}).encode()
        return self.typed(read_error(str(kind or ""), 500, httpx.Headers(), payload), model)

    def parse_event(
        self, state: StreamState, event: tuple[str, dict[str, Any]], model: str
    ) -> list[ChatChunk]:
        return state.feed(*event)

    def end_stream(self, state: StreamState, model: str) -> list[ChatChunk]:
        if not state.stopped:
            raise self.cut(model, "before messageStop")
        return [state.close()]
