"""Gemini: ``POST /v1beta/models/{model}:generateContent``, ``:streamGenerateContent``
(``?alt=sse``: server-sent events; without: one JSON array sent as it grows) and
``:countTokens``, as google-genai and Gemini REST clients send them; the same under ``/v1``
(google-genai's default API version).

The model and the method share one path segment (``auto:budget:generateContent``): the
method is what follows the last ``:``. The key comes as ``x-goog-api-key`` or ``?key=``
(the shared preamble reads both); ``key`` and ``alt`` are the only query parameters.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Annotated, Any

import pydantic_core
from fastapi import APIRouter, Request, Response

from orchestra.api.body import json_object
from orchestra.api.deps import Checked, checked_body, generate_of
from orchestra.api.headers import routed_headers
from orchestra.api.json_response import JsonBody
from orchestra.api.streaming import SSEResponse, rendered
from orchestra.errors import InvalidRequest
from orchestra.formats import gemini
from orchestra.formats.gemini_stream import GeminiStream, sse_event, stream_error

router = APIRouter()

QUERY = ("key", "alt")
#: the JSON array's keep-alive: whitespace between values, which every JSON parser skips
ARRAY_KEEPALIVE = b"\n"


# Not in /openapi.json: that document is the OpenAI-compatible contract (errors in OpenAI's
# shape); these routes follow Google's. ``{model:path}``: routed ids hold '/' (``alpha/m1``).
@router.post("/v1beta/models/{model:path}:{method}", include_in_schema=False)
@router.post("/v1/models/{model:path}:{method}", include_in_schema=False)
async def models_action(
    request: Request,
    call: Annotated[Checked[dict[str, Any]], checked_body(json_object)],
) -> Response:
    # the path's parts read as they are (FastAPI validating two str parameters costs ~40 us)
    model, method = request.path_params["model"], request.path_params["method"]
    alt = _query(request)
    if method not in gemini.METHODS:
        raise InvalidRequest(
            f"Method '{method}' is not found for 'models/{model}' (expected one of "
            f"{', '.join(gemini.METHODS)})",
            status=404,
            code="not_found",
        )
    if method == "countTokens":
        return JsonBody(gemini.count_tokens(call.body, model))
    stream = method == "streamGenerateContent"
    chat = gemini.to_chat_request(call.body, model, stream=stream)
    gateway = generate_of(call.services)
    renderer = GeminiStream("", thoughts=gemini.include_thoughts(chat))
    if stream:
        handle = await gateway.open_stream(chat)
        renderer.model_version = handle.model.id
        scrub = call.services.redactor.scrub
        events = rendered(gateway.relay(handle), renderer, lambda e: stream_error(e, scrub))
        keepalive_s = call.services.settings.stream_keepalive_s
        headers = routed_headers(handle)
        if alt == "sse":
            return SSEResponse(_sse(events), keepalive_s=keepalive_s, headers=headers)
        return SSEResponse(
            _json_array(events),
            keepalive_s=keepalive_s,
            headers=headers,
            media_type="application/json",
            keepalive=ARRAY_KEEPALIVE,
        )
    result = await gateway.generate(chat)
    assert result.response is not None
    body = gemini.render_response(result.response, result.model.id, thoughts=renderer.thoughts)
    return JsonBody(body, headers=routed_headers(result))


def _query(request: Request) -> str | None:
    """``alt`` (``sse`` or ``json``); any parameter but ``key`` and ``alt`` is refused."""
    for name in request.query_params:
        if name not in QUERY:
            raise InvalidRequest(
                f"Unknown query parameter '{name}'", param=name, code="unknown_parameter"
            )
    alt = request.query_params.get("alt")
    if alt not in (None, "sse", "json"):
        raise InvalidRequest(f"Invalid value for 'alt': '{alt}'", param="alt")
    return alt


async def _sse(events: AsyncGenerator[dict[str, Any]]) -> AsyncIterator[bytes]:
    """Each body as one ``data:`` event (no ``[DONE]``: Gemini sends none)."""
    async with contextlib.aclosing(events):
        async for body in events:
            yield sse_event(body)


async def _json_array(events: AsyncGenerator[dict[str, Any]]) -> AsyncIterator[bytes]:
    """``[``, the bodies separated by ``,``, ``]``: each sent as soon as it is made."""
    separator = b"["
    async with contextlib.aclosing(events):
        async for body in events:
            yield separator + pydantic_core.to_json(body)
            separator = b",\r\n"
    yield b"[]" if separator == b"[" else b"]"
