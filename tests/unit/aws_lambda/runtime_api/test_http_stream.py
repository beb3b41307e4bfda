"""An API Gateway event through an ASGI app, written in the streamed proxy format."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI

from orchestra.api.streaming import KEEPALIVE, SSEResponse, with_keepalive
from orchestra.aws_lambda.app import LambdaApp
from orchestra.aws_lambda.events import EXPECTED_EVENT
from orchestra.aws_lambda.runtime_api.client import DELIMITER, ClientGone
from orchestra.aws_lambda.runtime_api.http_stream import head, serve

from support.unsupported_events import UNSUPPORTED

EVENTS = Path(__file__).resolve().parents[4] / "events" / "generate"


def _event(name: str = "rest_v1_chat_completions_stream.json") -> dict[str, Any]:
    event: dict[str, Any] = json.loads((EVENTS / name).read_text())
    return event


def _app(source: AsyncIterator[bytes], **kw: Any) -> FastAPI:
    app = FastAPI()

    @app.post("/v1/chat/completions")
    async def route() -> SSEResponse:
        return SSEResponse(source, headers={"x-orchestra-model": "a/b"}, **kw)

    return app


def test_the_head_is_json_then_eight_nuls_with_repeated_headers_and_cookies_apart() -> None:
    raw = head(201, {"content-type": "text/plain", "set-cookie": "a=1"}, {"vary": ["x", "y"]})
    document, rest = raw.split(DELIMITER)
    assert rest == b""
    assert json.loads(document) == {
        "statusCode": 201,
        "headers": {"content-type": "text/plain"},
        "multiValueHeaders": {"vary": ["x", "y"]},
        "cookies": ["a=1"],
    }


async def test_the_head_leaves_with_the_first_chunk_and_each_chunk_on_its_own() -> None:
    # Given an app that streams three events, with a pause before the last
    async def source() -> AsyncIterator[bytes]:
        yield b"data: 1\n\n"
        yield b"data: 2\n\n"
        await asyncio.sleep(0.05)
        yield b"data: 3\n\n"

    writes: list[tuple[float, bytes]] = []
    loop = asyncio.get_running_loop()
    # When the event is served
    served = await serve(_app(source()), _event(), None, lambda d: writes.append((loop.time(), d)))
    # Then the first write is the head plus the first event, then one write per event
    document, first = writes[0][1].split(DELIMITER)
    assert json.loads(document)["statusCode"] == 200 == served.status
    assert json.loads(document)["headers"]["content-type"].startswith("text/event-stream")
    assert json.loads(document)["headers"]["x-orchestra-model"] == "a/b"
    assert first == b"data: 1\n\n"
    assert [w for _, w in writes[1:] if w] == [b"data: 2\n\n", b"data: 3\n\n"]
    assert writes[-1][0] - writes[0][0] >= 0.04  # written as produced, not at the end
    assert served.headers["x-orchestra-model"] == "a/b" and served.first_byte_at is not None


async def test_a_client_that_leaves_closes_the_source_at_once() -> None:
    # Given an endless stream whose generator records being closed
    closed = asyncio.Event()

    async def endless() -> AsyncIterator[bytes]:
        try:
            while True:
                yield b"data: x\n\n"
                await asyncio.sleep(0.001)
        finally:
            closed.set()

    written: list[bytes] = []

    def write(data: bytes) -> None:
        if len(written) == 3:
            raise ClientGone
        written.append(data)

    # When the reader goes away after three writes
    served = await serve(_app(endless()), _event(), None, write)
    # Then serving ends, and the generator (the upstream call behind it) is closed already
    assert served.client_gone and closed.is_set()


async def test_keepalive_comments_fill_silences_and_stop_the_source_when_closed() -> None:
    closed = asyncio.Event()

    async def slow() -> AsyncIterator[bytes]:
        try:
            yield b"a"
            await asyncio.sleep(0.12)
            yield b"b"
            await asyncio.sleep(10)
            yield b"never"
        finally:
            closed.set()

    seen = []
    gen = with_keepalive(slow(), 0.03)
    async for chunk in gen:
        seen.append(chunk)
        if chunk == b"b":
            break
    await gen.aclose()
    assert seen[0] == b"a" and seen[-1] == b"b"
    assert 2 <= seen.count(KEEPALIVE) <= 4
    await asyncio.sleep(0)
    assert closed.is_set()


@pytest.fixture(scope="module")
def simulated() -> Iterator[LambdaApp]:
    """A built app (the simulator, no keys), one execution environment for the module."""
    app = LambdaApp(environ={"ORCHESTRA_SIMULATOR": "true"})
    yield app
    app.close()


@pytest.mark.parametrize(("event", "reason"), UNSUPPORTED.values(), ids=UNSUPPORTED.keys())
def test_an_unsupported_event_gets_a_clean_400_in_the_streamed_format(
    simulated: LambdaApp, event: Any, reason: str, caplog: pytest.LogCaptureFixture
) -> None:
    # Given the streamed entry point of a built app
    writes: list[bytes] = []
    # When something that is not a usable API Gateway proxy request arrives
    with caplog.at_level(logging.INFO, logger="orchestra"):
        simulated.stream(event, None, writes.append)
    # Then it is answered at once with a 400 in OpenAI's shape, saying why
    document, body = b"".join(writes).split(DELIMITER)
    assert json.loads(document) == {
        "statusCode": 400,
        "headers": {"content-type": "application/json"},
    }
    assert json.loads(body) == {
        "error": {
            "message": f"unsupported event: {reason}; {EXPECTED_EVENT}",
            "type": "invalid_request_error",
            "param": None,
            "code": "invalid_request",
        }
    }
    # and logged at info, without a traceback
    assert [r.getMessage() for r in caplog.records if r.name == "orchestra"] == [
        f"unsupported event: {reason}",
        "request handled",
    ]
    assert all(r.levelno == logging.INFO and r.exc_info is None for r in caplog.records)


@pytest.mark.parametrize("fails_after_head", [False, True])
async def test_an_app_that_breaks(fails_after_head: bool) -> None:
    async def broken() -> AsyncIterator[bytes]:
        if fails_after_head:
            yield b"data: 1\n\n"
        raise RuntimeError("bug")

    writes: list[bytes] = []
    if fails_after_head:  # the body ends where it broke; nothing else is written
        served = await serve(_app(broken()), _event(), None, writes.append)
        assert served.broken and writes[0].endswith(b"data: 1\n\n")
    else:  # nothing written: the caller answers a whole 500 (LambdaApp.stream does)
        with pytest.raises(RuntimeError):
            await serve(_app(broken()), _event(), None, writes.append)
