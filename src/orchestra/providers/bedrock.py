"""Amazon Bedrock Converse / ConverseStream, translated to and from OpenAI chat.

boto3's client is synchronous: on the event loop it would block every other request, and in
threads it would need a pool. So the Converse REST API is spoken over the shared httpx
client instead, signed with botocore's SigV4 (botocore ships in the Lambda runtime; the
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

from orchestra.errors import MalformedResponse, ProviderAuthError, ProviderBadRequest, ProviderError
from orchestra.providers.base import CallOptions, ProviderConfig
from orchestra.providers.bedrock_convert import (
    UnsupportedContent,
    error_from,
    parse_response,
    to_body,
)
from orchestra.providers.bedrock_stream import StreamState, aiter_frames
from orchestra.schemas.chat import ChatChunk, ChatRequest, ChatResponse
from orchestra.tokens import estimate_prompt_tokens
from orchestra.transport.http import (
    HttpClients,
    map_errors,
    post_json,
    send_streaming,
    timeout_for,
)


class BedrockProvider:
    """Bedrock Runtime in ``region`` (or at ``base_url``), signed with the ambient role."""

    def __init__(self, config: ProviderConfig, http: HttpClients) -> None:
        if not (config.region or config.base_url):
            raise ValueError(f"provider {config.name} needs a region")
        self.name = config.name
        self.config = config
        self.http = http
        self.region = config.region or "us-east-1"
        self.base = (
            config.base_url or f"https://bedrock-runtime.{self.region}.amazonaws.com"
        ).rstrip("/")
        self._credentials: Any = None  # botocore's (refreshable) credentials, resolved once

    def _frozen_credentials(self, model: str) -> Any:
        from botocore.exceptions import BotoCoreError
        from botocore.session import get_session

        try:
            if self._credentials is None:
                self._credentials = get_session().get_credentials()
            if self._credentials is not None:
                return self._credentials.get_frozen_credentials()
        except BotoCoreError as exc:  # its text can name profiles and files, never keys
            raise ProviderAuthError(
                "AWS credentials could not be loaded", provider=self.name, model=model
            ) from exc
        raise ProviderAuthError("no AWS credentials for Bedrock", provider=self.name, model=model)

    def _signed(self, model: str, action: str, body: bytes, options: CallOptions) -> httpx.Request:
        """SigV4 over exactly the bytes and path httpx sends (``:`` stays ``%3A``)."""
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest

        url = f"{self.base}/model/{quote(model, safe='')}/{action}"
        headers = {**self.config.headers, "content-type": "application/json"}
        aws = AWSRequest(method="POST", url=url, data=body, headers=headers)
        SigV4Auth(self._frozen_credentials(model), "bedrock", self.region).add_auth(aws)
        timeout = timeout_for(options.timeout, self.config.connect_timeout)
        return self.http.get().build_request(
            "POST", url, content=body, headers=dict(aws.headers.items()), timeout=timeout
        )

    def _body(self, request: ChatRequest, model: str) -> bytes:
        try:
            return json.dumps(to_body(request), separators=(",", ":")).encode()
        except UnsupportedContent as exc:
            raise ProviderBadRequest(str(exc), provider=self.name, model=model) from exc

    def _error(self, model: str) -> Any:
        def build(response: httpx.Response, raw: bytes) -> ProviderError:
            kind = response.headers.get("x-amzn-errortype")
            return error_from(
                kind, response.status_code, response.headers, raw, provider=self.name, model=model
            )

        return build

    async def complete(
        self, request: ChatRequest, model: str, options: CallOptions
    ) -> ChatResponse:
        with map_errors(self.name, model):
            signed = self._signed(model, "converse", self._body(request, model), options)
            data = await post_json(self.http.get(), signed, self._error(model))
            return parse_response(data, model)

    async def stream(
        self, request: ChatRequest, model: str, options: CallOptions
    ) -> AsyncIterator[ChatChunk]:
        state = StreamState(model, estimate_prompt_tokens(request))
        with map_errors(self.name, model):
            body = self._body(request, model)
            signed = self._signed(model, "converse-stream", body, options)
            async with send_streaming(self.http.get(), signed, self._error(model)) as response:
                async for kind, payload in self._events(response, model):
                    for chunk in state.feed(kind, payload):
                        yield chunk
        if not state.stopped:
            raise MalformedResponse(
                f"{self.name} ended the stream before messageStop", provider=self.name, model=model
            )
        yield state.close()

    async def _events(
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
        return error_from(
            str(kind or ""), 500, httpx.Headers(), payload, provider=self.name, model=model
        )
