"""Mid-stream continuation: what it takes to finish a broken stream on another model.

When a stream fails after its first byte, the client already holds part of the answer. The
next candidate is asked to finish it, in one of two modes:

- **prefill** (Anthropic; Claude on Bedrock: adapters whose ``supports_prefill(model)`` is
  true): the request's messages plus one assistant message holding the partial text. The
  model continues that very turn. Its trailing whitespace is left out (Anthropic refuses a
  final assistant turn ending in whitespace) and remembered, since the model usually
  starts with it again; extended thinking is turned off for that call (Anthropic takes no
  prefill with thinking on).
- **instruction** (every other adapter): the messages, the partial text as an assistant
  turn, then a user turn asking to continue exactly where it stops.

Either way the continuation may start with text the client already has: whitespace the
prefill left out, or (instruction mode) the end of the partial repeated:
:mod:`orchestra.generate.overlap` drops it.

Everything here is pure or per-stream state; ``Generate.relay`` does the calls.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from orchestra.errors import ProviderError
from orchestra.generate.overlap import Joiner
from orchestra.routing.router import Candidate, RoutePlan
from orchestra.schemas.chat import ChatChunk, ChatMessage, ChatRequest, Usage
from orchestra.schemas.options import OrchestraOptions
from orchestra.tokens import CHARS_PER_TOKEN, estimate_text_tokens

#: the user turn that asks a model without prefill to finish its previous message
CONTINUE_INSTRUCTION = (
    "Your previous message was cut off. Continue it exactly where it stops, mid-word or "
    "mid-sentence if that is where it stops. Do not repeat anything already written and add "
    "no preamble or commentary: what you write is appended to it as it is."
)


@dataclass(frozen=True)
class ContinuationPolicy:
    """The gateway's side of the decision (the request's is its ``orchestra`` options).

    ``allowed``: the deployment option (``continue_streams`` per deployment) for the id of
    the deployment that broke; None allows every deployment."""

    enabled: bool = True
    #: continuations one answer may take (a continuation may break too)
    max_continuations: int = 2
    #: less of the request's deadline left than this: end with the error instead
    min_remaining_s: float = 1.0
    allowed: Callable[[str], bool] | None = None


class SentSoFar:
    """What the client has been sent, seen chunk by chunk (cheap: appends and flags).

    ``call_*`` fields cover the current upstream call only: its usage (if it reported
    any) and the characters it produced, to estimate what a broken call cost."""

    __slots__ = (
        "call_chars",
        "call_started",
        "finished",
        "other",
        "reasoning",
        "text",
        "tool_calls",
        "usage",
    )

    def __init__(self) -> None:
        self.text: list[str] = []
        self.reasoning: list[str] = []
        #: a tool call delta (name or arguments) was sent: never continued elsewhere
        self.tool_calls = False
        #: other non-text content was sent (a thinking signature, redacted thinking)
        self.other = False
        #: a finish reason was sent: the answer itself is complete
        self.finished = False
        #: set by the relay from the upstream's own chunks (before usage is summed)
        self.usage: Usage | None = None
        self.call_chars = 0
        self.call_started = time.perf_counter()

    def see(self, chunk: ChatChunk) -> None:
        for choice in chunk.choices:
            delta = choice.delta
            if delta.content:
                self.text.append(delta.content)
                self.call_chars += len(delta.content)
            if delta.reasoning_content:
                self.reasoning.append(delta.reasoning_content)
                self.call_chars += len(delta.reasoning_content)
            if delta.tool_calls:
                self.tool_calls = True
            if delta.reasoning_signature or delta.redacted_thinking:
                self.other = True
            if choice.finish_reason is not None:
                self.finished = True

    def partial(self) -> str:
        """The answer's text so far, as the client has it."""
        return "".join(self.text)

    def call_usage(self, prompt_tokens: int) -> Usage:
        """The current call's usage: what it reported, else estimated from what it sent."""
        if self.usage is not None:
            return self.usage
        chars = self.call_chars  # as orchestra.tokens estimates text, without joining it
        return Usage.of(prompt_tokens, int(chars / CHARS_PER_TOKEN) + 1 if chars else 0)

    def new_call(self) -> None:
        self.usage, self.call_chars, self.call_started = None, 0, time.perf_counter()


def refusal(
    policy: ContinuationPolicy,
    request: ChatRequest | None,
    sent: SentSoFar,
    error: BaseException,
    *,
    model_id: str,
    continued: int,
    remaining_s: float,
    header: OrchestraOptions | None = None,
) -> str | None:
    """Why a stream broken after its first byte must end with its error (None: continue).

    In this order: the gateway's setting, the request's opt-out (body or header: a
    request can only turn continuation off), the broken deployment's option, how many
    continuations already ran, tool-call arguments already streamed (another model cannot
    finish someone else's JSON), an answer already finished, structured output (a second
    model cannot append to a JSON document), a failure that is not the upstream's (or that
    no other model would do better on), and too little time left."""
    asked_off = _opted_out(request, header)
    checks = (
        (not policy.enabled, "disabled"),
        (asked_off, "request_opted_out"),
        (policy.allowed is not None and not policy.allowed(model_id), "deployment_opted_out"),
        (continued >= policy.max_continuations, "too_many_continuations"),
        (sent.tool_calls, "tool_call_streamed"),
        (sent.finished, "answer_finished"),
        (request is None, "no_request"),
        (request is not None and _structured(request), "structured_output"),
        (isinstance(error, ProviderError) and not error.fallback, "not_an_upstream_failure"),
        (remaining_s < policy.min_remaining_s, "deadline_nearly_spent"),
    )
    return next((reason for failed, reason in checks if failed), None)


def can_continue(
    policy: ContinuationPolicy,
    request: ChatRequest | None,
    sent: SentSoFar,
    error: BaseException,
    **context: Any,
) -> bool:
    """Whether the stream may continue on the next candidate (see :func:`refusal`)."""
    return refusal(policy, request, sent, error, **context) is None


def _opted_out(request: ChatRequest | None, header: OrchestraOptions | None) -> bool:
    body = request.orchestra if request is not None else None
    return any(o is not None and o.continue_streams is False for o in (body, header))


def _structured(request: ChatRequest) -> bool:
    kind = (request.response_format or {}).get("type", "text")
    return bool(kind != "text")


# --- the continuation request -----------------------------------------------------------


def continuation_request(request: ChatRequest, partial_text: str, *, prefill: bool) -> ChatRequest:
    """``request`` asking the next model to finish ``partial_text`` (see the module's doc).

    Streamed, with the same tools and sampling; the output limit shrinks by what was
    already written; a client's own body (another format) is not reused, since it lacks
    the partial answer. An empty (or all-whitespace) partial is a plain retry."""
    kept = partial_text.rstrip()
    messages = list(request.messages)
    if kept:
        messages.append(ChatMessage(role="assistant", content=kept))
        if not prefill:
            messages.append(ChatMessage(role="user", content=CONTINUE_INSTRUCTION))
    update: dict[str, Any] = {"messages": messages, "stream": True, "orchestra": None}
    if limit := request.output_limit():
        left = max(limit - estimate_text_tokens(partial_text), 1)
        field = "max_completion_tokens" if request.max_completion_tokens else "max_tokens"
        update[field] = left
    if prefill and kept and _thinking_on(request):
        update["thinking"] = {"type": "disabled"}
        update["reasoning_effort"] = None
    continued = request.model_copy(update=update)
    continued._native = None
    return continued


def _thinking_on(request: ChatRequest) -> bool:
    thinking = request.thinking
    return (thinking is not None and thinking.get("type") != "disabled") or bool(
        request.reasoning_effort
    )


def supports_prefill(provider: object, upstream_model: str) -> bool:
    """Whether ``provider`` continues a final assistant turn for ``upstream_model`` (its
    ``supports_prefill(model)``; adapters without one do not)."""
    check = getattr(provider, "supports_prefill", None)
    return bool(check(upstream_model)) if callable(check) else False


def rest_of_chain(plan: RoutePlan, model_id: str) -> list[Candidate]:
    """The chain after ``model_id``, where a continuation looks (the same model's other
    deployments first: they sit right after it); the whole chain but it when it was not
    in the chain (a last-resort call)."""
    ids = [c.model.id for c in plan.candidates]
    if model_id in ids:
        return plan.candidates[ids.index(model_id) + 1 :]
    return [c for c in plan.candidates if c.model.id != model_id]


def reason_of(error: BaseException) -> str:
    """A failure as the final chunk and the attempts name it (type and upstream status)."""
    return error.summary() if isinstance(error, ProviderError) else "unexpected upstream failure"


def add_usage(a: Usage | None, b: Usage | None) -> Usage | None:
    """Two calls' usage as one (None when neither reported any)."""
    if a is None or b is None:
        return a or b
    return Usage.of(
        a.prompt_tokens + b.prompt_tokens,
        a.completion_tokens + b.completion_tokens,
        cached=a.cached_tokens + b.cached_tokens,
        cache_creation=a.cache_creation_tokens + b.cache_creation_tokens,
        reasoning=a.reasoning_tokens + b.reasoning_tokens,
    )


class Stitch:
    """A continued stream's seams: what its last chunks say (``records``), the usage of the
    calls cut short (``carried``, added to the usage the client sees), and the joiner of
    the current continuation."""

    __slots__ = ("carried", "joiner", "prompt_tokens", "records")

    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []
        self.carried: Usage | None = None
        self.joiner: Joiner | None = None
        #: the current continuation's prompt (estimated), for its usage if it breaks too
        self.prompt_tokens = 0

    def join(self, record: dict[str, Any], joiner: Joiner, broken_usage: Usage) -> None:
        """A continuation began: ``broken_usage`` is what the call it replaces used."""
        self.records.append(record)
        self.carried = add_usage(self.carried, broken_usage)
        self.joiner = joiner

    def pass_on(self, chunk: ChatChunk) -> list[ChatChunk]:
        """A continuation's chunk as part of the one answer (its role already sent)."""
        for choice in chunk.choices:
            choice.delta.role = None
        if chunk.usage is not None:
            chunk.usage = add_usage(self.carried, chunk.usage)
        assert self.joiner is not None
        return self.noted(self.joiner.feed(chunk))

    def flush(self) -> list[ChatChunk]:
        return self.noted(self.joiner.flush()) if self.joiner is not None else []

    def noted(self, chunks: list[ChatChunk]) -> list[ChatChunk]:
        """The last chunks (finish, usage) say the answer was continued, and where."""
        for chunk in chunks:
            if not chunk.choices or any(c.finish_reason for c in chunk.choices):
                chunk.orchestra = {"continued": self.records}
        return chunks
