"""A chunk's lines: OpenAI's output and error lines, in order, stopped by the cancel flag."""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

from orchestra.batch.processor import ChunkProcessor, failed_line
from orchestra.errors import InvalidRequest, RateLimited


class Echo:
    """Answers each line with its prompt; ``fail`` prompts raise the named error."""

    def __init__(self, delay: float = 0.0) -> None:
        self.calls: list[str] = []
        self.delay = delay

    async def call(self, url: str, body: dict[str, Any]) -> dict[str, Any]:
        prompt = body["messages"][0]["content"]
        self.calls.append(prompt)
        await asyncio.sleep(self.delay)
        if prompt == "bad":
            raise InvalidRequest("Unknown model 'nope'", param="model", code="model_not_found")
        if prompt == "busy":
            raise RateLimited("slow down", provider="p", model="m")
        return {"object": "chat.completion", "choices": [{"message": {"content": prompt}}]}


def chunk(*prompts: str) -> bytes:
    lines = [
        {
            "custom_id": f"c{i}",
            "method": "POST",
            "url": "/v1/chat/completions",
            "body": {"model": "m", "messages": [{"role": "user", "content": p}]},
        }
        for i, p in enumerate(prompts)
    ]
    return b"".join(json.dumps(x).encode() + b"\n" for x in lines)


async def never() -> bool:
    return False


async def test_output_and_error_lines_have_openais_exact_shape():
    result = await ChunkProcessor(Echo()).process(chunk("hello", "bad", "busy"), never)
    assert (result.completed, result.failed, result.skipped) == (1, 2, 0)
    ok = json.loads(result.output[0])
    assert list(ok) == ["id", "custom_id", "response", "error"]
    assert re.fullmatch(r"batch_req_[0-9a-f]{32}", ok["id"]) and ok["custom_id"] == "c0"
    assert ok["error"] is None
    assert ok["response"]["status_code"] == 200
    assert ok["response"]["request_id"].startswith("req_")
    assert ok["response"]["body"]["choices"][0]["message"]["content"] == "hello"
    bad, busy = (json.loads(x) for x in result.errors)
    assert bad["custom_id"] == "c1" and bad["error"] is None
    assert bad["response"]["status_code"] == 400
    assert bad["response"]["body"] == {
        "error": {
            "message": "Unknown model 'nope'",
            "type": "invalid_request_error",
            "param": "model",
            "code": "model_not_found",
        }
    }
    assert busy["response"]["status_code"] == 429
    assert all(x.endswith(b"\n") and x.count(b"\n") == 1 for x in result.output + result.errors)


async def test_lines_keep_input_order_whatever_finishes_first():
    prompts = [f"p{i}" for i in range(20)]
    result = await ChunkProcessor(Echo(), concurrency=5).process(chunk(*prompts), never)
    assert [json.loads(x)["custom_id"] for x in result.output] == [f"c{i}" for i in range(20)]


async def test_cancel_stops_new_lines_and_keeps_finished_ones():
    # Given a chunk of 10 lines run one at a time, cancelled once 3 have started
    echo = Echo()

    async def cancelled() -> bool:
        return len(echo.calls) >= 3

    processor = ChunkProcessor(echo, concurrency=1, cancel_check_s=0)
    result = await processor.process(chunk(*[f"p{i}" for i in range(10)]), cancelled)
    # Then the three finished lines are kept, and no other line was sent
    assert echo.calls == ["p0", "p1", "p2"]
    assert (result.completed, result.failed, result.skipped) == (3, 0, 7)


async def test_the_cancel_flag_is_asked_at_most_every_interval():
    asked = 0

    async def cancelled() -> bool:
        nonlocal asked
        asked += 1
        return False

    await ChunkProcessor(Echo(), concurrency=4, cancel_check_s=60).process(
        chunk("a", "b", "c"), cancelled
    )
    assert asked == 1


def test_a_failed_chunks_line_has_no_response_and_an_error():
    doc = json.loads(failed_line("x", "batch_chunk_failed", "boom"))
    assert doc["response"] is None and doc["custom_id"] == "x"
    assert doc["error"] == {"code": "batch_chunk_failed", "message": "boom"}
