"""``POST /v1/chat/completions``: non-streaming JSON and ``stream: true`` SSE."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Response

from orchestra.api import contract
from orchestra.api.body import validated
from orchestra.api.deps import Checked, checked_body, generate_of
from orchestra.api.headers import routed_headers
from orchestra.api.streaming import DONE, SSEResponse, error_event
from orchestra.errors import OrchestraError
from orchestra.generate.results import StreamHandle
from orchestra.generate.service import Generate
from orchestra.redaction import Redactor
from orchestra.schemas.chat import ChatRequest, ChatResponse

router = APIRouter()

_SCHEMA = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": contract.chat_request()}},
    }
}


def parse_chat_request(body: bytes) -> ChatRequest:
    return validated(ChatRequest, body)


@router.post(
    "/v1/chat/completions",
    openapi_extra=_SCHEMA,
    response_model=ChatResponse,
    responses=contract.SSE_RESPONSE,
)
async def chat_completions(
    call: Annotated[Checked[ChatRequest], checked_body(parse_chat_request)],
) -> Response:
    services, chat = call.services, call.body
    gateway = generate_of(services)
    if chat.stream:
        handle = await gateway.open_stream(chat)
        return SSEResponse(
            sse_events(gateway, handle, chat.wants_usage_in_stream(), services.redactor),
            keepalive_s=services.settings.stream_keepalive_s,
            headers=routed_headers(handle),
        )
    result = await gateway.generate(chat)
    assert result.response is not None
    return Response(
        result.response.model_dump_json(exclude_none=True),
        media_type="application/json",
        headers=routed_headers(result),
    )


async def sse_events(
    gateway: Generate, handle: StreamHandle, include_usage: bool, redactor: Redactor
) -> AsyncIterator[bytes]:
    """Chunks as SSE; ``[DONE]`` only after a complete answer, an error event otherwise."""
    try:
        async for chunk in gateway.relay(handle):
            if not chunk.choices and not include_usage:
                continue
            if not include_usage:
                chunk.usage = None
            yield b"data: " + chunk.model_dump_json(exclude_none=True).encode() + b"\n\n"
    except OrchestraError as exc:
        yield error_event(exc, redactor.scrub)
        return
    yield DONE
