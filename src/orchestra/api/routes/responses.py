"""OpenAI Responses: ``POST /v1/responses`` (JSON or typed SSE events) and
``GET /v1/responses/{id}``.

A request is translated into the chat request the generate use case takes
(:mod:`orchestra.formats.responses`); with ``previous_response_id`` the stored conversation
comes first. An answer with ``store`` (the default) is kept for the next turn.

When the answer came from an upstream speaking Responses itself (OpenAI), the client gets
that upstream's own output items (``web_search_call``, citations, reasoning items) under the
gateway's id. Streams are rendered from the chat chunks either way: built-in tool progress
events (``response.web_search_call.*``) and annotations are not relayed in a stream (its
final ``response.completed`` carries the text, function calls and reasoning summary).
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Response

from orchestra.api.deps import Authorized, Checked, NotServed, Served, checked_body, generate_of
from orchestra.api.headers import routed_headers
from orchestra.api.json_response import JsonBody
from orchestra.api.streaming import SSEResponse
from orchestra.errors import OrchestraError, ResponseNotFound, StorageError
from orchestra.formats.responses import NATIVE_FORMAT, Inbound, parse_responses_request
from orchestra.formats.responses_output import (
    assistant_turn,
    history,
    new_id,
    record,
    rendered,
    upstream_rendered,
)
from orchestra.formats.responses_stream import ResponseEvents
from orchestra.generate.results import Generation, StreamHandle
from orchestra.generate.service import Generate
from orchestra.schemas.chat import ChatMessage
from orchestra.storage.responses import ResponseStore

log = logging.getLogger("orchestra.api")

router = APIRouter()


def responses_of(services: Served) -> ResponseStore:
    if services.responses is None:
        raise NotServed("stored responses are not served by this function")
    return services.responses


@router.post("/v1/responses")
async def create_response(
    call: Annotated[Checked[Inbound], checked_body(parse_responses_request)],
) -> Response:
    services, inbound = call.services, call.body
    gateway, store = generate_of(services), responses_of(services)
    earlier = await _conversation(store, inbound.request.previous_response_id)
    chat = inbound.chat(earlier)
    conversation = [*earlier, *inbound.new_messages]
    response_id = new_id("resp")
    if chat.stream:
        handle = await gateway.open_stream(chat)
        writer = ResponseEvents(inbound.request, response_id, handle.model.id, int(time.time()))
        events = _events(gateway, handle, writer, store, conversation, services)
        return SSEResponse(
            events,
            keepalive_s=services.settings.stream_keepalive_s,
            headers=routed_headers(handle),
        )
    result = await gateway.generate(chat)
    body = _answer(inbound, result, response_id)
    assert result.response is not None
    if inbound.request.store:
        turn = assistant_turn(result.response.choices[0].message)
        await _keep(store, response_id, record(body, [*conversation, turn]))
    return JsonBody(body, headers=routed_headers(result))


def _answer(inbound: Inbound, result: Generation, response_id: str) -> dict[str, Any]:
    """The ``response`` object: the upstream's own when it spoke Responses, else rendered."""
    answer, model = result.response, result.model.id
    assert answer is not None
    native = answer.native
    if native is not None and native.format == NATIVE_FORMAT:
        return upstream_rendered(
            inbound.request,
            native.body,
            model=model,
            response_id=response_id,
            created_at=int(time.time()),
        )
    return rendered(inbound.request, answer, model=model, response_id=response_id)


@router.get("/v1/responses/{response_id}")
async def get_response(response_id: str, services: Authorized) -> Response:
    stored = await _stored(responses_of(services), response_id, "response_id")
    return JsonBody(stored["response"])


async def _conversation(store: ResponseStore, previous: str | None) -> list[ChatMessage]:
    """The stored conversation up to ``previous`` (its input and output items)."""
    if previous is None:
        return []
    return history(await _stored(store, previous, "previous_response_id"))


async def _stored(store: ResponseStore, response_id: str, param: str) -> dict[str, Any]:
    stored = await store.load(response_id)
    if stored is None:
        raise _not_found(response_id, param)
    return stored


def _not_found(response_id: str, param: str) -> ResponseNotFound:
    return ResponseNotFound(
        f"Response with id '{response_id}' not found (never stored, or expired)",
        param=param,
    )


async def _keep(store: ResponseStore, response_id: str, kept: dict[str, Any]) -> None:
    """Store the turn; the answer is the client's either way, so a failure is logged."""
    try:
        await store.save(response_id, kept)
    except StorageError as exc:
        log.warning("response %s not stored: %s", response_id, exc.message)


async def _events(
    gateway: Generate,
    handle: StreamHandle,
    writer: ResponseEvents,
    store: ResponseStore,
    conversation: list[ChatMessage],
    services: Served,
) -> AsyncIterator[bytes]:
    for event in writer.start():
        yield event
    try:
        async for chunk in gateway.relay(handle):
            for event in writer.feed(chunk):
                yield event
    except OrchestraError as exc:
        for event in writer.fail(exc, services.redactor.scrub):
            yield event
        return
    events, body = writer.finish()
    if writer.request.store:
        turn = writer.assistant_turn()
        await _keep(store, writer.response_id, record(body, [*conversation, turn]))
    for event in events:
        yield event
