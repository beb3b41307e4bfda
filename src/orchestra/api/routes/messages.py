"""Anthropic Messages: ``POST /v1/messages`` and ``POST /v1/messages/count_tokens``.

The body is translated into the internal request (:mod:`orchestra.formats.anthropic`), served
by the same generate use case as chat completions (routing, fallback before the first byte,
the same ``x-orchestra-*`` headers), and the answer rendered back as an Anthropic message or
event stream. Errors take Anthropic's shape (``api/errors.py`` picks it by path). The key comes
as ``x-api-key`` or ``Authorization: Bearer``; ``anthropic-version`` is accepted and
``anthropic-beta`` flags ride along on the request (``anthropic_beta``) for an Anthropic
upstream.

Both routes stay out of ``/openapi.json``: that document is the OpenAI-shaped contract
(every error an ``ErrorResponse``); this one is Anthropic's, documented by Anthropic.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from fastapi import APIRouter, Request, Response

from orchestra.api.deps import Checked, Served, checked_body, generate_of
from orchestra.api.headers import routed_headers
from orchestra.api.json_response import JsonBody
from orchestra.api.streaming import SSEResponse, rendered
from orchestra.formats.anthropic import beta_flags, parse_count_request, parse_request
from orchestra.formats.anthropic_answer import render_message, thinking_unsigned
from orchestra.formats.anthropic_stream import PING, MessageStream, error_event
from orchestra.schemas.chat import ChatRequest
from orchestra.tokens import estimate_prompt_tokens

if TYPE_CHECKING:
    from orchestra.catalog.models import ModelInfo

router = APIRouter()

#: the note a response carries when the answer's reasoning could not be returned
NOTES_HEADER = "x-orchestra-notes"
THINKING_DROPPED = "thinking_dropped"


@router.post("/v1/messages", include_in_schema=False)
async def create_message(
    call: Annotated[Checked[ChatRequest], checked_body(parse_request)], request: Request
) -> Response:
    services, chat = call.services, call.body
    if flags := beta_flags(request.headers.getlist("anthropic-beta")):
        chat.anthropic_beta = flags  # type: ignore[attr-defined]  # an extra field, by contract
    gateway = generate_of(services)
    if chat.stream:
        handle = await gateway.open_stream(chat)
        keep = keeps_thinking(services, handle.model)
        renderer = MessageStream(handle.model.id, estimate_prompt_tokens(chat), keep_thinking=keep)
        headers = routed_headers(handle)
        if wants_thinking(chat) and not keep:
            headers[NOTES_HEADER] = THINKING_DROPPED
        return SSEResponse(
            rendered(
                gateway.relay(handle), renderer, lambda e: error_event(e, services.redactor.scrub)
            ),
            keepalive_s=services.settings.stream_keepalive_s,
            headers=headers,
            keepalive=PING,
        )
    result = await gateway.generate(chat)
    assert result.response is not None
    headers = routed_headers(result)
    dropped = wants_thinking(chat) and not keeps_thinking(services, result.model)
    if dropped or thinking_unsigned(result.response):
        headers[NOTES_HEADER] = THINKING_DROPPED
    return JsonBody(render_message(result.response, result.model.id), headers=headers)


@router.post("/v1/messages/count_tokens", include_in_schema=False)
async def count_tokens(
    call: Annotated[Checked[ChatRequest], checked_body(parse_count_request)],
) -> Response:
    """``{"input_tokens": N}``: the gateway's own estimate (``orchestra.tokens``) over the
    translated request, the same one routing uses to fit context windows. No upstream is
    called, so it costs nothing and works whichever model would answer; it is an estimate,
    not the answering vendor's tokenizer count."""
    return JsonBody({"input_tokens": estimate_prompt_tokens(call.body)})


def wants_thinking(chat: ChatRequest) -> bool:
    """Extended thinking asked for, or thinking blocks in the history."""
    enabled = chat.thinking is not None and chat.thinking.get("type") != "disabled"
    return enabled or any(m.thinking_blocks for m in chat.messages)


def keeps_thinking(services: Served, model: ModelInfo) -> bool:
    """Whether ``model``'s provider signs thinking blocks (Anthropic, Claude on Bedrock; the
    local simulator, which signs its own so the whole path can be tried offline)."""
    config = services.registry.configs.get(model.provider)
    kind = config.type if config is not None else None
    if kind in ("anthropic", "simulator"):
        return True
    upstream = model.upstream.lower()
    return kind == "bedrock" and ("claude" in upstream or "anthropic" in upstream)
