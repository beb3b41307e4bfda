"""OpenAI-compatible chat completion wire models (the lingua franca of every adapter)."""

from __future__ import annotations

import time
import uuid
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator

from orchestra.schemas.options import OrchestraOptions

Role = Literal["system", "developer", "user", "assistant", "tool", "function"]
FinishReason = Literal["stop", "length", "tool_calls", "content_filter", "function_call"]


class FunctionCall(BaseModel):
    name: str
    arguments: str = ""


class ToolCall(BaseModel):
    """One tool call; extra fields carry what a vendor needs back on the next turn
    (Gemini's ``thought_signature``)."""

    model_config = ConfigDict(extra="allow")

    id: str
    type: Literal["function"] = "function"
    function: FunctionCall


class ChatMessage(BaseModel):
    """One message; ``content`` is text or a list of OpenAI content parts.

    The parts the gateway understands (every inbound format parses into these, every
    adapter maps them out): ``text``; ``image_url`` (``data:`` URL or https URL);
    ``file`` (``{"file": {"file_data": "data:<mime>;base64,...", "filename"?}}`` or
    ``{"file": {"file_url": "https://..."}}``: PDFs and text documents); ``input_audio``.
    Any part may carry Anthropic's ``cache_control`` (``{"type": "ephemeral", "ttl"?}``):
    adapters whose vendor honours prompt caching map it, the others drop it.

    An assistant message may carry its reasoning: ``reasoning_content`` (the text) and
    ``thinking_blocks`` (Anthropic's signed ``thinking`` / ``redacted_thinking`` blocks,
    verbatim), which only Anthropic and Bedrock Claude take back; other adapters drop them.
    A ``tool`` message may set ``is_error`` (Anthropic's ``tool_result.is_error``).
    """

    model_config = ConfigDict(extra="allow")

    role: Role
    content: str | list[dict[str, Any]] | None = None
    name: str | None = None
    tool_calls: list[ToolCall] | None = None
    tool_call_id: str | None = None
    reasoning_content: str | None = None
    thinking_blocks: list[dict[str, Any]] | None = None

    def text(self) -> str:
        """The message's text parts joined (images and audio are left out)."""
        if self.content is None:
            return ""
        if isinstance(self.content, str):
            return self.content
        return "".join(str(p.get("text", "")) for p in self.content if p.get("type") == "text")

    def has_images(self) -> bool:
        return isinstance(self.content, list) and any(
            p.get("type") == "image_url" for p in self.content
        )


class StreamOptions(BaseModel):
    include_usage: bool = Field(default=False, strict=True)


class NativeBody(BaseModel):
    """The request as its client sent it, for an upstream that speaks the same format
    (``anthropic``, ``gemini``, ``openai-responses``): fields the gateway does not know
    pass through unchanged. ``body`` is the parsed JSON object, untouched."""

    model_config = ConfigDict(frozen=True)

    format: str
    body: dict[str, Any]
    #: tools in ``body`` that only an upstream of this format runs (Responses' built-in
    #: ``web_search``, ``file_search``...), as ``(index in body["tools"], type)``: the
    #: router keeps such a request to the providers that run them
    builtin_tools: tuple[tuple[int, str], ...] = ()


class ChatRequest(BaseModel):
    """``POST /v1/chat/completions`` body, plus Orchestra's own ``fallbacks`` and ``profile``."""

    model_config = ConfigDict(extra="allow")

    model: str = Field(min_length=1, max_length=256)
    messages: list[ChatMessage] = Field(min_length=1)
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, ge=0, le=1)
    max_tokens: int | None = Field(default=None, ge=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    stop: str | list[str] | None = None
    stream: bool = False
    stream_options: StreamOptions | None = None
    tools: list[dict[str, Any]] | None = None
    tool_choice: str | dict[str, Any] | None = None
    n: int | None = Field(default=None, ge=1, le=1)
    seed: int | None = None
    user: str | None = None
    response_format: dict[str, Any] | None = None
    presence_penalty: float | None = Field(default=None, ge=-2, le=2)
    frequency_penalty: float | None = Field(default=None, ge=-2, le=2)
    #: OpenAI's reasoning effort ("minimal", "low", "medium", "high", ...)
    reasoning_effort: str | None = None
    #: Anthropic's extended thinking: ``{"type": "enabled", "budget_tokens": N}`` or
    #: ``{"type": "disabled"}``; adapters map it (Gemini's thinkingConfig, Bedrock's
    #: additionalModelRequestFields) or leave it out
    thinking: dict[str, Any] | None = None
    top_k: int | None = Field(default=None, ge=0)
    metadata: dict[str, Any] | None = None
    # Orchestra extensions
    fallbacks: list[str] | None = Field(default=None, max_length=16)
    profile: str | None = None
    #: Orchestra's own options (``schemas/options.py``); never sent upstream
    orchestra: OrchestraOptions | None = None
    #: set by an inbound format other than chat completions (never from a body)
    _native: NativeBody | None = PrivateAttr(default=None)

    @property
    def native(self) -> NativeBody | None:
        """The client's own body, when it came in another format than chat completions."""
        return self._native

    def with_native(self, native: NativeBody) -> ChatRequest:
        self._native = native
        return self

    @field_validator("stop")
    @classmethod
    def _stop_limit(cls, value: str | list[str] | None) -> str | list[str] | None:
        if isinstance(value, list) and len(value) > 4:
            raise ValueError("at most 4 stop sequences")
        return value

    def output_limit(self) -> int | None:
        return self.max_completion_tokens or self.max_tokens

    def stop_list(self) -> list[str]:
        if self.stop is None:
            return []
        return [self.stop] if isinstance(self.stop, str) else list(self.stop)

    def wants_usage_in_stream(self) -> bool:
        return bool(self.stream_options and self.stream_options.include_usage)


#: the chat-completion request parameters a body may carry, forwarded upstream: OpenAI's
#: (``POST /v1/chat/completions``, 2025) and the OpenAI-compatible vendors' common extensions
#: (OpenRouter, vLLM, Mistral, Groq, DeepSeek). Endpoints that take options of their own
#: beside a chat body (multi-generate) refuse any other field, so a misspelt option is
#: never sent to the models; add a vendor's parameter here when a client needs it.
CHAT_PARAMETERS = frozenset(ChatRequest.model_fields) | {
    # OpenAI
    "audio",
    "function_call",
    "functions",
    "logit_bias",
    "logprobs",
    "metadata",
    "modalities",
    "moderation",
    "parallel_tool_calls",
    "prediction",
    "prompt_cache_key",
    "prompt_cache_options",
    "prompt_cache_retention",
    "reasoning_effort",
    "safety_identifier",
    "service_tier",
    "store",
    "top_logprobs",
    "verbosity",
    "web_search_options",
    # OpenRouter
    "include_reasoning",
    "min_p",
    "plugins",
    "provider",
    "reasoning",
    "repetition_penalty",
    "route",
    "top_a",
    "top_k",
    "transforms",
    "usage",
    # vLLM, Mistral, Groq, DeepSeek
    "chat_template_kwargs",
    "guided_choice",
    "guided_json",
    "guided_regex",
    "min_tokens",
    "stop_token_ids",
    "random_seed",
    "safe_prompt",
    "reasoning_format",
}


class PromptTokensDetails(BaseModel):
    """Of ``prompt_tokens``: read from the vendor's prompt cache (OpenAI's field), and
    written to it (Anthropic's and Bedrock's cache writes, priced higher)."""

    cached_tokens: int = 0
    cache_creation_tokens: int = 0


class CompletionTokensDetails(BaseModel):
    """Of ``completion_tokens``: spent on reasoning (OpenAI's field; Gemini's thoughts)."""

    reasoning_tokens: int = 0


class Usage(BaseModel):
    """Token counts. ``prompt_tokens`` includes cached and cache-written tokens and
    ``completion_tokens`` includes reasoning tokens, in every adapter (the details say how
    many of them were which)."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    prompt_tokens_details: PromptTokensDetails | None = None
    completion_tokens_details: CompletionTokensDetails | None = None

    @classmethod
    def of(
        cls,
        prompt: int,
        completion: int,
        *,
        cached: int = 0,
        cache_creation: int = 0,
        reasoning: int = 0,
    ) -> Usage:
        usage = cls(
            prompt_tokens=prompt, completion_tokens=completion, total_tokens=prompt + completion
        )
        if cached or cache_creation:
            usage.prompt_tokens_details = PromptTokensDetails(
                cached_tokens=cached, cache_creation_tokens=cache_creation
            )
        if reasoning:
            usage.completion_tokens_details = CompletionTokensDetails(reasoning_tokens=reasoning)
        return usage

    @property
    def cached_tokens(self) -> int:
        return self.prompt_tokens_details.cached_tokens if self.prompt_tokens_details else 0

    @property
    def cache_creation_tokens(self) -> int:
        details = self.prompt_tokens_details
        return details.cache_creation_tokens if details else 0

    @property
    def reasoning_tokens(self) -> int:
        details = self.completion_tokens_details
        return details.reasoning_tokens if details else 0


class AssistantMessage(BaseModel):
    """The answer; ``reasoning_content`` and ``thinking_blocks`` as on :class:`ChatMessage`."""

    role: Literal["assistant"] = "assistant"
    content: str | None = None
    tool_calls: list[ToolCall] | None = None
    reasoning_content: str | None = None
    thinking_blocks: list[dict[str, Any]] | None = None


class Choice(BaseModel):
    index: int = 0
    message: AssistantMessage
    finish_reason: FinishReason | None = "stop"


def new_completion_id() -> str:
    return f"chatcmpl-{uuid.uuid4().hex[:24]}"


class ChatResponse(BaseModel):
    id: str = Field(default_factory=new_completion_id)
    object: Literal["chat.completion"] = "chat.completion"
    created: int = Field(default_factory=lambda: int(time.time()))
    model: str
    choices: list[Choice]
    usage: Usage | None = None
    #: the vendor's own answer, for a client speaking the vendor's format (never sent)
    _native: NativeBody | None = PrivateAttr(default=None)

    @property
    def native(self) -> NativeBody | None:
        return self._native

    def with_native(self, native: NativeBody) -> ChatResponse:
        self._native = native
        return self

    def text(self) -> str:
        return (self.choices[0].message.content or "") if self.choices else ""


class ToolCallDelta(BaseModel):
    index: int
    id: str | None = None
    type: Literal["function"] | None = None
    function: dict[str, str] | None = None  # {"name"?: str, "arguments"?: str}


class Delta(BaseModel):
    """A piece of the answer. Reasoning streams as ``reasoning_content`` pieces; a signed
    thinking block (Anthropic, Bedrock Claude) ends with its ``reasoning_signature``, after
    which a new ``reasoning_content`` starts a new block; ``redacted_thinking`` is a whole
    redacted block's data."""

    role: Literal["assistant"] | None = None
    content: str | None = None
    tool_calls: list[ToolCallDelta] | None = None
    reasoning_content: str | None = None
    reasoning_signature: str | None = None
    redacted_thinking: str | None = None


class ChunkChoice(BaseModel):
    index: int = 0
    delta: Delta
    finish_reason: FinishReason | None = None


class ChatChunk(BaseModel):
    """One ``chat.completion.chunk``; the usage-only final chunk has ``choices == []``.

    ``orchestra``: what the gateway did to the stream, on its last chunks (the one with the
    finish reason and the usage-only one): ``{"continued": [{"from", "to", "after_chars",
    "reason"}]}`` when the answer was continued on another model after a break (chat
    completions clients see it; the other formats leave it out)."""

    id: str = ""
    object: Literal["chat.completion.chunk"] = "chat.completion.chunk"
    created: int = Field(default_factory=lambda: int(time.time()))
    model: str = ""
    choices: list[ChunkChoice] = Field(default_factory=list)
    usage: Usage | None = None
    orchestra: dict[str, Any] | None = None
