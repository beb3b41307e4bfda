"""Amazon Bedrock Converse / ConverseStream, translated to and from OpenAI chat.

boto3's client is synchronous: on the event loop it would block every other request, and in
threads it would need a pool. So the Converse REST API is spoken over the shared httpx
client instead, signed with botocore's SigV4 (botocore ships in the Lambda runtime; the
credentials are the function role's, refreshed by botocore). ConverseStream answers in AWS
binary event-stream framing (not SSE), decoded incrementally with botocore's
``EventStreamBuffer``. Pure functions (``to_body``, ``parse_response``, ``error_from``,
:class:`StreamState`) are tested directly against recorded payloads.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

import httpx

from orchestra.errors import MalformedResponse, ProviderAuthError, ProviderBadRequest, ProviderError
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
from orchestra.routing.tokens import estimate_prompt_tokens, estimate_text_tokens
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
#: AWS error types (``x-amzn-ErrorType``, a stream's ``:exception-type``) by HTTP status
_KINDS = {
    429: "ThrottlingException",
    503: "ServiceUnavailableException ModelNotReadyException",
    408: "ModelTimeoutException",
    500: "InternalServerException ModelErrorException ModelStreamErrorException",
    403: "AccessDeniedException UnrecognizedClientException ExpiredTokenException",
    404: "ResourceNotFoundException",
    400: "ValidationException",
}
ERROR_STATUS = {kind.lower(): status for status, kinds in _KINDS.items() for kind in kinds.split()}
#: how a ValidationException says the prompt does not fit the model's window
CONTEXT_PHRASES = re.compile(
    r"input is too long|too many input tokens|prompt is too long|maximum context length|"
    r"exceeds? (the )?context (limit|window)|context window",
    re.IGNORECASE,
)
#: how a ValidationException says this model id cannot be called (another candidate may be)
MODEL_ID_PHRASES = re.compile(
    r"model identifier is invalid|on-demand throughput isn.t supported", re.IGNORECASE
)
IMAGE_FORMATS = {"png": "png", "jpeg": "jpeg", "jpg": "jpeg", "gif": "gif", "webp": "webp"}
_DATA_URL = re.compile(r"^data:image/(?P<fmt>[\w.+-]+);base64,(?P<data>.+)$", re.DOTALL)


class UnsupportedContent(ValueError):
    """A request part Converse cannot take (remote image URLs, unknown image formats)."""


def to_body(request: ChatRequest) -> dict[str, Any]:
    """The Converse request body (the model id travels in the URL, not here)."""
    body: dict[str, Any] = {"messages": to_messages(request.messages)}
    system = [{"text": m.text()} for m in request.messages if m.role in ("system", "developer")]
    if system := [block for block in system if block["text"]]:
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
    """Alternating user/assistant turns: tool results become user turns, runs are merged."""
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
            blocks.append({"image": _image(part.get("image_url"))})
    return blocks


def _image(image: Any) -> dict[str, Any]:
    """Converse takes image bytes (base64 in JSON), never a URL to fetch."""
    url = image.get("url", "") if isinstance(image, dict) else str(image or "")
    match = _DATA_URL.match(url)
    if match is None:
        raise UnsupportedContent("Bedrock accepts images only as base64 data: URLs")
    fmt = IMAGE_FORMATS.get(match["fmt"].lower())
    if fmt is None:
        raise UnsupportedContent(f"Bedrock does not accept image/{match['fmt']} images")
    return {"format": fmt, "source": {"bytes": match["data"]}}


def _json_object(arguments: str) -> dict[str, Any]:
    try:
        value = json.loads(arguments or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _tool_config(request: ChatRequest, turns: list[dict[str, Any]]) -> dict[str, Any] | None:
    # a history with toolUse/toolResult blocks is rejected unless toolConfig is present
    history = any("toolUse" in b or "toolResult" in b for t in turns for b in t["content"])
    if not request.tools or (request.tool_choice == "none" and not history):
        return None
    tools = []
    for tool in request.tools:
        function = tool.get("function") or {}
        schema = function.get("parameters") or {"type": "object", "properties": {}}
        spec: dict[str, Any] = {"name": function.get("name", ""), "inputSchema": {"json": schema}}
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


def parse_usage(raw: Any) -> Usage:
    """Cached prompt tokens are reported apart from ``inputTokens``: the prompt is all three."""
    raw = raw if isinstance(raw, dict) else {}
    prompt = sum(
        int(raw.get(k) or 0)
        for k in ("inputTokens", "cacheReadInputTokens", "cacheWriteInputTokens")
    )
    return Usage.of(prompt, int(raw.get("outputTokens") or 0))


def parse_response(body: Any, model: str) -> ChatResponse:
    """A Converse answer into a :class:`ChatResponse` (reasoning blocks are dropped)."""
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
    message = {"content": text or None, "tool_calls": calls or None}
    return ChatResponse.model_validate(
        {
            "model": model,
            "choices": [{"message": message, "finish_reason": reason}],
            "usage": parse_usage(body.get("usage")),
        }
    )


def error_from(
    kind: str | None, status: int, headers: httpx.Headers, raw: bytes, *, provider: str, model: str
) -> ProviderError:
    """``kind`` is the AWS error type (header or stream exception), ``status`` the HTTP one.

    The type decides; without one (proxies, recorders strip ``x-`` headers) the status does.
    """
    kind = (kind or "").split(":", 1)[0].strip()
    status = ERROR_STATUS.get(kind.lower(), status if status >= 400 else 500)
    message = error_message(json_or_none(raw), kind or f"HTTP {status}")
    if status == 400 and MODEL_ID_PHRASES.search(message):
        status = 404  # an id this account cannot call: the next candidate may still serve
    return error_for_status(
        status,
        message,
        provider=provider,
        model=model,
        retry_after=parse_retry_after(headers),
        context_length=status == 400 and bool(CONTEXT_PHRASES.search(message)),
        code=kind or None,
    )


class StreamState:
    """ConverseStream events (already decoded from their frames) in, OpenAI chunks out."""

    def __init__(self, model: str, prompt_tokens: int = 0) -> None:
        self.chunks = ChunkFactory(model)
        self.tools: dict[int, int] = {}  # contentBlockIndex -> tool call index
        self.argued: set[int] = set()  # tool blocks that sent some input
        self.usage: Usage | None = None
        self.stopped = False
        self.started = False
        self.prompt_tokens = prompt_tokens
        self.text: list[str] = []  # for an estimate should ``metadata`` never come

    def feed(self, kind: str, payload: dict[str, Any]) -> list[ChatChunk]:
        out: list[ChatChunk] = []
        if not self.started and kind != "metadata":  # role first, even without messageStart
            self.started = True
            out.append(self.chunks.role())
        block = payload.get("contentBlockIndex", 0)
        if kind == "contentBlockStart" and (tool := (payload.get("start") or {}).get("toolUse")):
            index = self.tools[block] = len(self.tools)
            out.append(self.chunks.tool_call(index, call_id=tool["toolUseId"], name=tool["name"]))
        elif kind == "contentBlockDelta":
            out += self._delta(block, payload.get("delta") or {})
        elif kind == "contentBlockStop" and block in self.tools and block not in self.argued:
            out.append(self.chunks.tool_call(self.tools[block], arguments="{}"))  # no input
        elif kind == "messageStop":
            self.stopped = True
            reason = STOP_REASONS.get(payload.get("stopReason") or "", "stop")
            out.append(self.chunks.finish(reason))
        elif kind == "metadata":
            self.usage = parse_usage(payload.get("usage"))
        return out

    def _delta(self, block: int, delta: dict[str, Any]) -> list[ChatChunk]:
        if delta.get("text"):
            self.text.append(delta["text"])
            return [self.chunks.text(delta["text"])]
        fragment = (delta.get("toolUse") or {}).get("input") or ""
        if fragment and block in self.tools:
            self.argued.add(block)
            self.text.append(fragment)
            return [self.chunks.tool_call(self.tools[block], arguments=fragment)]
        return []  # reasoning content is not part of the OpenAI answer

    def close(self) -> ChatChunk:
        """The usage-only chunk: the vendor's count, else an estimate, never nothing."""
        usage = self.usage or Usage.of(self.prompt_tokens, estimate_text_tokens("".join(self.text)))
        return self.chunks.usage(usage.prompt_tokens, usage.completion_tokens)


async def aiter_frames(chunks: AsyncIterator[bytes]) -> AsyncIterator[tuple[dict[str, Any], bytes]]:
    """Each event-stream frame as (headers, payload); a CRC mismatch raises ``ParserError``."""
    from botocore.eventstream import EventStreamBuffer

    buffer = EventStreamBuffer()
    async for chunk in chunks:
        buffer.add_data(chunk)
        for message in buffer:
            frame: Any = message  # botocore-stubs mistype EventStreamMessage's fields
            yield dict(frame.headers), bytes(frame.payload)


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
