"""``POST /v1/chat/completions``: non-streaming JSON and ``stream: true`` SSE."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

from fastapi import APIRouter, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import ValidationError

from orchestra.api.body import read_body
from orchestra.api.deps import services_of
from orchestra.api.errors import validation_error
from orchestra.errors import InvalidRequest, OrchestraError
from orchestra.gateway import Gateway, StreamHandle
from orchestra.redaction import Redactor
from orchestra.schemas import contract
from orchestra.schemas.chat import ChatRequest, ChatResponse

router = APIRouter()

_SCHEMA = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": contract.chat_request()}},
    }
}


def parse_chat_request(body: bytes) -> ChatRequest:
    if not body.strip():
        raise InvalidRequest("Request body is empty: expected a JSON object")
    try:
        return ChatRequest.model_validate_json(body)
    except ValidationError as exc:
        errors = exc.errors()
        if errors and errors[0].get("type") in ("json_invalid", "model_type"):
            raise InvalidRequest(
                "We could not parse the JSON body of your request: expected a JSON object",
                code="invalid_json",
            ) from exc
        raise validation_error(list(errors)) from exc


@router.post(
    "/v1/chat/completions",
    openapi_extra=_SCHEMA,
    response_model=ChatResponse,
    responses={200: {"content": {"text/event-stream": {"schema": {"type": "string"}}}}},
)
async def chat_completions(request: Request) -> Response:
    services = services_of(request)
    await services.auth.check(request.headers.get("authorization"))
    chat = parse_chat_request(await read_body(request, services.settings.max_body_bytes))
    if chat.stream:
        handle = await services.gateway.open_stream(chat)
        return StreamingResponse(
            sse_events(services.gateway, handle, chat.wants_usage_in_stream(), services.redactor),
            media_type="text/event-stream",
            headers={**handle.headers(), "cache-control": "no-cache"},
        )
    result = await services.gateway.generate(chat)
    assert result.response is not None
    return Response(
        result.response.model_dump_json(exclude_none=True),
        media_type="application/json",
        headers=result.headers(),
    )


async def sse_events(
    gateway: Gateway, handle: StreamHandle, include_usage: bool, redactor: Redactor
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
        body = exc.to_body()
        body["error"]["message"] = redactor.scrub(body["error"]["message"])
        yield b"data: " + json.dumps(body).encode() + b"\n\n"
        return
    yield b"data: [DONE]\n\n"
