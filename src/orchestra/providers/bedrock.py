"""Amazon Bedrock Converse / ConverseStream, translated to and from OpenAI chat.

boto3's client is synchronous: on the event loop it would block every other request, and in
threads it would need a pool. So the Converse REST API is spoken over the shared httpx
client instead, signed with botocore's SigV4 (botocore ships in the Lambda runtime; the
credentials are the function role's, refreshed by botocore). ConverseStream answers in AWS
binary event-stream framing, decoded incrementally with botocore's ``EventStreamBuffer``.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

import httpx

from orchestra.errors import MalformedResponse, ProviderAuthError, ProviderError
from orchestra.providers.base import CallOptions, ProviderConfig
from orchestra.providers.chunks import ChunkFactory
from orchestra.providers.http import (
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
from orchestra.schemas.chat import (
    ChatChunk,
    ChatMessage,
    ChatRequest,
    ChatResponse,
    FinishReason,
    Usage,
)

STOP_REASONS: dict[str, FinishReason] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "guardrail_intervened": "content_filter",
    "content_filtered": "content_filter",
}
#: ``x-amzn-ErrorType`` (or a stream's ``:exception-type``) -> the status it stands for
ERROR_STATUS = {
    "throttlingexception": 429,
    "serviceunavailableexception": 503,
    "modelnotreadyexception": 503,
    "modeltimeoutexception": 408,
    "internalserverexception": 500,
    "modelerrorexception": 500,
    "modelstreamerrorexception": 500,
    "accessdeniedexception": 403,
    "unrecognizedclientexception": 403,
    "expiredtokenexception": 403,
    "resourcenotfoundexception": 404,
    "validationexception": 400,
}
CONTEXT_PHRASES = re.compile(
    r"input is too long|too many input tokens|prompt is too long|maximum context length|"
    r"context window",
    re.IGNORECASE,
)
MODEL_ID_PHRASES = re.compile(r"model identifier is invalid|model.*not (found|supported)", re.I)
_DATA_URL = re.compile(r"^data:image/(?P<fmt>\w+);base64,(?P<data>.+)$", re.DOTALL)


# --- request -------------------------------------------------------------------------


def to_body(request: ChatRequest) -> dict[str, Any]:
    body: dict[str, Any] = {"messages": to_messages(request.messages)}
    system = [{"text": m.text()} for m in request.messages if m.role in ("system", "developer")]
    if system:
        body["system"] = system
    config = {
        "maxTokens": request.output_limit(),
        "temperature": request.temperature,
        "topP": request.top_p,
        "stopSequences": request.stop_list() or None,
    }
    if config := {k: v for k, v in config.items() if v is not None}:
        body["inferenceConfig"] = config
    if tool_config := _tool_config(request, body["messages"]):
        body["toolConfig"] = tool_config
    return body


def to_messages(messages: list[ChatMessage]) -> list[dict[str, Any]]:
    turns: list[dict[str, Any]] = []
    for message in messages:
        if message.role in ("system", "developer"):
            continue
        role = "assistant" if message.role == "assistant" else "user"
        blocks = _blocks(message)
        if not blocks:
            continue
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"].extend(blocks)
        else:
            turns.append({"role": role, "content": blocks})
    return turns


def _blocks(message: ChatMessage) -> list[dict[str, Any]]:
    if message.role in ("tool", "function"):
        result = {"toolUseId": message.tool_call_id or "", "content": [{"text": message.text()}]}
        return [{"toolResult": result}]
    blocks = _content_blocks(message)
    for call in message.tool_calls or []:
        tool_use = {
            "toolUseId": call.id,
            "name": call.function.name,
            "input": _json_object(call.function.arguments),
        }
        blocks.append({"toolUse": tool_use})
    return blocks


def _content_blocks(message: ChatMessage) -> list[dict[str, Any]]:
    if isinstance(message.content, str):
        return [{"text": message.content}] if message.content else []
    blocks: list[dict[str, Any]] = []
    for part in message.content or []:
        if part.get("type") == "text" and part.get("text"):
            blocks.append({"text": part["text"]})
        elif part.get("type") == "image_url":
            image = part.get("image_url")
            url = image.get("url", "") if isinstance(image, dict) else str(image or "")
            if match := _DATA_URL.match(url):  # Converse takes image bytes, not URLs
                fmt = "jpeg" if match["fmt"] == "jpg" else match["fmt"]
                blocks.append({"image": {"format": fmt, "source": {"bytes": match["data"]}}})
    return blocks


def _json_object(arguments: str) -> dict[str, Any]:
    try:
        value = json.loads(arguments or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _tool_config(request: ChatRequest, turns: list[dict[str, Any]]) -> dict[str, Any] | None:
    history = any("toolUse" in b or "toolResult" in b for t in turns for b in t["content"])
    if not request.tools or (request.tool_choice == "none" and not history):
        return None
    tools = []
    for tool in request.tools:
        function = tool.get("function") or {}
        spec: dict[str, Any] = {
            "name": function.get("name", ""),
            "inputSchema": {
                "json": function.get("parameters") or {"type": "object", "properties": {}}
            },
        }
        if function.get("description"):
            spec["description"] = function["description"]
        tools.append({"toolSpec": spec})
    config: dict[str, Any] = {"tools": tools}
    choice = request.tool_choice
    if isinstance(choice, dict) and (choice.get("function") or {}).get("name"):
        config["toolChoice"] = {"tool": {"name": choice["function"]["name"]}}
    elif choice in ("auto", "required"):
        config["toolChoice"] = {"auto": {}} if choice == "auto" else {"any": {}}
    return config


# --- response ------------------------------------------------------------------------


def parse_usage(raw: Any) -> Usage:
    raw = raw if isinstance(raw, dict) else {}
    prompt = sum(
        int(raw.get(k) or 0)
        for k in ("inputTokens", "cacheReadInputTokens", "cacheWriteInputTokens")
    )
    return Usage.of(prompt, int(raw.get("outputTokens") or 0))


def parse_response(body: Any, model: str) -> ChatResponse:
    if not isinstance(body, dict):
        raise TypeError("response is not an object")
    content = body["output"]["message"]["content"]
    text = "".join(b["text"] for b in content if "text" in b)
    calls = [
        {
            "id": b["toolUse"]["toolUseId"],
            "type": "function",
            "function": {
                "name": b["toolUse"]["name"],
                "arguments": json.dumps(b["toolUse"].get("input") or {}),
            },
        }
        for b in content
        if "toolUse" in b
    ]
    reason = STOP_REASONS.get(body.get("stopReason") or "", "stop")
    return ChatResponse.model_validate(
        {
            "model": model,
            "choices": [
                {
                    "message": {"content": text or None, "tool_calls": calls or None},
                    "finish_reason": reason,
                }
            ],
            "usage": parse_usage(body.get("usage")),
        }
    )


def error_from(
    kind: str | None, status: int, headers: httpx.Headers, raw: bytes, *, provider: str, model: str
) -> ProviderError:
    """``kind`` is the AWS error type (header or stream exception), ``status`` the HTTP one."""
    kind = (kind or "").split(":", 1)[0].strip()
    status = ERROR_STATUS.get(kind.lower(), status if status >= 400 else 500)
    body = json_or_none(raw)
    message = error_message(body, kind or f"HTTP {status}")
    if status == 400 and MODEL_ID_PHRASES.search(message):
        status = 404  # an unknown model id: the next candidate may still serve
    too_long = status == 400 and bool(CONTEXT_PHRASES.search(message))
    return error_for_status(
        status,
        message,
        provider=provider,
        model=model,
        retry_after=parse_retry_after(headers),
        context_length=too_long,
        code=kind or None,
    )


# --- streaming -----------------------------------------------------------------------


class StreamState:
    """ConverseStream events (already decoded from their frames) in, OpenAI chunks out."""

    def __init__(self, model: str) -> None:
        self.chunks = ChunkFactory(model)
        self.tools: dict[int, int] = {}  # contentBlockIndex -> tool call index
        self.usage: Usage | None = None
        self.stopped = False

    def feed(self, kind: str, payload: dict[str, Any]) -> list[ChatChunk]:
        if kind == "messageStart":
            return [self.chunks.role()]
        if kind == "contentBlockStart":
            tool = (payload.get("start") or {}).get("toolUse")
            if not tool:
                return []
            index = self.tools[payload.get("contentBlockIndex", 0)] = len(self.tools)
            return [self.chunks.tool_call(index, call_id=tool["toolUseId"], name=tool["name"])]
        if kind == "contentBlockDelta":
            return self._delta(payload.get("contentBlockIndex", 0), payload.get("delta") or {})
        if kind == "messageStop":
            self.stopped = True
            return [self.chunks.finish(STOP_REASONS.get(payload.get("stopReason") or "", "stop"))]
        if kind == "metadata":
            self.usage = parse_usage(payload.get("usage"))
        return []

    def _delta(self, block: int, delta: dict[str, Any]) -> list[ChatChunk]:
        if delta.get("text"):
            return [self.chunks.text(delta["text"])]
        if "toolUse" in delta and block in self.tools:
            fragment = delta["toolUse"].get("input") or ""
            return (
                [self.chunks.tool_call(self.tools[block], arguments=fragment)] if fragment else []
            )
        return []  # reasoning content is not part of the OpenAI answer

    def close(self) -> ChatChunk:
        usage = self.usage or Usage()
        return self.chunks.usage(usage.prompt_tokens, usage.completion_tokens)


async def aiter_frames(chunks: AsyncIterator[bytes]) -> AsyncIterator[tuple[dict[str, Any], bytes]]:
    """Each event-stream frame as (headers, payload); a CRC mismatch raises."""
    from botocore.eventstream import EventStreamBuffer

    buffer = EventStreamBuffer()
    async for chunk in chunks:
        buffer.add_data(chunk)
        for message in buffer:
            frame: Any = message  # botocore-stubs mistype EventStreamMessage's fields
            yield dict(frame.headers), bytes(frame.payload)


# --- provider ------------------------------------------------------------------------


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
        self._credentials: Any = None

    def _signed(self, url: str, body: dict[str, Any], options: CallOptions) -> httpx.Request:
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest

        if self._credentials is None:
            from botocore.session import get_session

            self._credentials = get_session().get_credentials()
        if self._credentials is None:
            raise ProviderAuthError("no AWS credentials for Bedrock", provider=self.name, model="")
        data = json.dumps(body).encode()
        headers = {"content-type": "application/json", **self.config.headers}
        aws = AWSRequest(method="POST", url=url, data=data, headers=headers)
        SigV4Auth(self._credentials.get_frozen_credentials(), "bedrock", self.region).add_auth(aws)
        timeout = timeout_for(options.timeout, self.config.connect_timeout)
        return self.http.get().build_request(
            "POST", url, content=data, headers=dict(aws.headers), timeout=timeout
        )

    def _url(self, model: str, action: str) -> str:
        return f"{self.base}/model/{quote(model, safe='')}/{action}"

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
            signed = self._signed(self._url(model, "converse"), to_body(request), options)
            data = await post_json(self.http.get(), signed, self._error(model))
            return parse_response(data, model)

    async def stream(
        self, request: ChatRequest, model: str, options: CallOptions
    ) -> AsyncIterator[ChatChunk]:
        state = StreamState(model)
        with map_errors(self.name, model):
            signed = self._signed(self._url(model, "converse-stream"), to_body(request), options)
            async with send_streaming(self.http.get(), signed, self._error(model)) as response:
                async for headers, payload in self._frames(response, model):
                    if headers.get(":message-type") == "exception":
                        kind = str(headers.get(":exception-type") or "")
                        raise error_from(
                            kind, 500, httpx.Headers(), payload, provider=self.name, model=model
                        )
                    for chunk in state.feed(str(headers.get(":event-type")), json.loads(payload)):
                        yield chunk
        if not state.stopped:
            raise MalformedResponse(
                f"{self.name} ended the stream before messageStop", provider=self.name, model=model
            )
        yield state.close()

    async def _frames(
        self, response: httpx.Response, model: str
    ) -> AsyncIterator[tuple[dict[str, Any], bytes]]:
        from botocore.eventstream import ParserError

        try:
            async for frame in aiter_frames(response.aiter_bytes()):
                yield frame
        except ParserError as exc:  # CRC mismatch or a broken prelude
            raise MalformedResponse(
                f"{self.name} sent a corrupt event-stream frame", provider=self.name, model=model
            ) from exc
