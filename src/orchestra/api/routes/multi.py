"""``POST /v1/multi-generate``: one request fanned out to several models, answers fused.

With ``"stream": true`` the answer is server-sent events: a comment as each model finishes
(``: openai/gpt-4.1 ok 2310 ms``) and keep-alive comments while the models think, then one
``data:`` event holding the whole multi-generate response, then ``data: [DONE]``. The models
themselves are never streamed (fusion needs whole answers); the stream exists so that a
fan-out of reasoning models can run past API Gateway's timeouts with the client kept
informed. A failure before the first model finishes keeps its status code; after it, it is
an ``error`` event and no ``[DONE]``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Response
from pydantic import ValidationError

from orchestra.api import contract
from orchestra.api.body import json_object
from orchestra.api.deps import Checked, Served, checked_body, multi_of
from orchestra.api.errors import validation_error
from orchestra.api.headers import multi_headers
from orchestra.api.streaming import DONE, SSEResponse, comment, error_event
from orchestra.errors import OrchestraError
from orchestra.multi.service import MultiGenerate
from orchestra.panel.fanout import ModelRun
from orchestra.schemas.multi import MultiGenerateRequest, MultiGenerateResponse

router = APIRouter()

_SCHEMA = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": contract.multi_generate_request()}},
    }
}


@router.post(
    "/v1/multi-generate",
    openapi_extra=_SCHEMA,
    response_model=MultiGenerateResponse,
    responses={
        **contract.SSE_RESPONSE,
        502: {"description": "every model failed (OpenAI error shape)"},
    },
)
async def multi_generate(
    call: Annotated[Checked[MultiGenerateRequest], checked_body(parse_multi_request)],
) -> Response:
    services, parsed = call.services, call.body
    multi = multi_of(services)
    if parsed.chat.stream:
        return await _streamed(services, multi, parsed)
    result = await multi.run(parsed)
    return Response(
        result.model_dump_json(exclude_none=True),
        media_type="application/json",
        headers=multi_headers(result),
    )


def parse_multi_request(body: bytes) -> MultiGenerateRequest:
    try:
        return MultiGenerateRequest.from_body(json_object(body))
    except ValidationError as exc:
        raise validation_error(list(exc.errors())) from exc


async def _streamed(
    services: Served, multi: MultiGenerate, parsed: MultiGenerateRequest
) -> Response:
    """Start the fan-out; answer once a model has answered, the run has ended (so an early
    failure keeps its status code) or the keep-alive interval has passed (so no proxy sees a
    silent connection), then stream the rest."""
    parsed.chat.stream = False
    arrivals: asyncio.Queue[ModelRun] = asyncio.Queue()
    task = asyncio.ensure_future(multi.run(parsed, streamed=True, on_arrival=arrivals.put_nowait))
    try:
        early = await _until_worth_streaming(task, arrivals, services.settings.stream_keepalive_s)
    except BaseException:
        task.cancel()
        raise
    if task.done():  # over before anything was sent: errors keep their status code
        result = task.result()
        return SSEResponse(_finished(result), headers=multi_headers(result))
    return SSEResponse(
        _progress(task, arrivals, services, early),
        keepalive_s=services.settings.stream_keepalive_s,
    )


async def _until_worth_streaming(
    task: asyncio.Future[MultiGenerateResponse], arrivals: asyncio.Queue[ModelRun], within: float
) -> list[ModelRun]:
    """The arrivals up to the first answer (failures alone do not start the stream)."""
    loop = asyncio.get_running_loop()
    until = loop.time() + within if within > 0 else None
    early: list[ModelRun] = []
    while not task.done():
        timeout = None if until is None else max(until - loop.time(), 0.0)
        getting = asyncio.ensure_future(arrivals.get())
        waiting: set[asyncio.Future[Any]] = {task, getting}
        try:
            await asyncio.wait(waiting, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            getting.cancel()
        if getting.done() and not getting.cancelled():
            early.append(getting.result())
            if early[-1].status == "ok":
                break
        elif not task.done():
            break  # the keep-alive interval passed
    return early


async def _progress(
    task: asyncio.Future[MultiGenerateResponse],
    arrivals: asyncio.Queue[ModelRun],
    services: Served,
    early: list[ModelRun],
) -> AsyncIterator[bytes]:
    try:
        for run in early:
            yield comment(_arrival(run))
        while not (task.done() and arrivals.empty()):
            getting = asyncio.ensure_future(arrivals.get())
            waiting: set[asyncio.Future[Any]] = {task, getting}
            await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
            if not getting.done():
                getting.cancel()
                continue
            yield comment(_arrival(getting.result()))
        try:
            result = task.result()
        except OrchestraError as exc:
            yield error_event(exc, services.redactor.scrub)
            return
        async for chunk in _finished(result):
            yield chunk
    finally:
        if not task.done():  # the client left: stop the fan-out (and its upstream calls)
            task.cancel()
            with contextlib.suppress(BaseException):
                await task


async def _finished(result: MultiGenerateResponse) -> AsyncIterator[bytes]:
    yield b"data: " + result.model_dump_json(exclude_none=True).encode() + b"\n\n"
    yield DONE


def _arrival(run: ModelRun) -> str:
    outcome = run.status if run.error is None else f"{run.status} ({run.error.code})"
    return f"{run.model.id} {outcome} {run.latency_ms:.0f} ms"
