"""A batch's completion window (status ``expired``) and its ``usage`` (tokens of the
completed lines, counted once per chunk)."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from orchestra.batch.processor import usage_of
from orchestra.schemas.batch import CreateBatch
from unit.batch.test_runner import Answers, build, finished, jsonl


class Counted(Answers):
    """Answers with a usage block; counts the lines it answered."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    async def call(self, url: str, body: dict[str, Any]) -> dict[str, Any]:
        self.calls += 1
        answer = await super().call(url, body)
        usage = {"prompt_tokens": 10, "completion_tokens": 3, "total_tokens": 13}
        usage["prompt_tokens_details"] = {"cached_tokens": 4}  # type: ignore[assignment]
        return {**answer, "usage": usage}


def _request(upload_id: str) -> CreateBatch:
    return CreateBatch(
        input_file_id=upload_id, endpoint="/v1/chat/completions", completion_window="24h"
    )


async def _ended(batches: Any, batch_id: str) -> Any:
    for _ in range(500):
        batch = await batches.retrieve(batch_id)
        if batch.status == "expired":
            return batch
        await asyncio.sleep(0.01)
    return await finished(batches, batch_id)


async def test_usage_sums_the_completed_lines_with_one_counter_update_per_chunk() -> None:
    # Given 10 lines in chunks of 4 (3 chunks), two of them refused
    answers = Counted()
    files, batches, runner = build(answers, chunk_lines=4)
    records = runner.steps.store.records
    adds: list[str] = []
    real_add = records.add

    async def counting_add(pk: str, sk: str, counters: Any, expires_at: Any) -> Any:
        adds.append(sk)
        return await real_add(pk, sk, counters, expires_at)

    records.add = counting_add  # type: ignore[method-assign]
    upload = await files.create(jsonl(10, bad={3, 7}), "in.jsonl", "batch")
    # When it runs
    done = await finished(batches, (await batches.create(_request(upload.id))).id)
    # Then usage is the 8 completed lines' tokens, and the counters moved once per chunk
    assert done.status == "completed"
    assert done.usage.model_dump() == {
        "input_tokens": 80,
        "input_tokens_details": {"cached_tokens": 32},
        "output_tokens": 24,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": 104,
    }
    assert adds == ["counts"] * 3


def test_usage_of_reads_chat_and_embedding_bodies() -> None:
    chat = {"usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7}}
    assert usage_of(chat) == {"input_tokens": 5, "output_tokens": 2, "total_tokens": 7}
    assert usage_of({"usage": {"prompt_tokens": 9, "total_tokens": 9}}) == {
        "input_tokens": 9,
        "total_tokens": 9,
    }
    assert usage_of({"data": []}) == {} and usage_of({"usage": {"prompt_tokens": "x"}}) == {}


async def test_a_batch_past_its_window_keeps_what_finished_and_ends_expired() -> None:
    # Given a window that closes once 3 lines have been answered
    answers = Counted()
    files, batches, runner = build(answers, chunk_lines=4)
    runner.steps.clock = lambda: time.time() + (2 * 86_400 if answers.calls >= 3 else 0)
    upload = await files.create(jsonl(12), "in.jsonl", "batch")
    # When it runs
    done = await _ended(batches, (await batches.create(_request(upload.id))).id)
    # Then it is expired, with what finished kept and every other line a batch_expired error
    assert done.status == "expired" and done.expired_at and done.completed_at is None
    counts = done.request_counts
    assert 3 <= counts.completed < 12 and counts.completed + counts.failed == 12
    output = [json.loads(x) for x in (await files.content(done.output_file_id)).splitlines()]
    errors = [json.loads(x) for x in (await files.content(done.error_file_id)).splitlines()]
    assert len(output) == counts.completed and len(errors) == counts.failed
    assert {e["error"]["code"] for e in errors} == {"batch_expired"}
    ids = sorted(x["custom_id"] for x in output + errors)
    assert ids == sorted(f"r{i}" for i in range(12))
    assert done.usage.total_tokens == 13 * counts.completed


async def test_a_batch_finished_inside_its_window_is_completed() -> None:
    answers = Counted()
    files, batches, runner = build(answers, chunk_lines=4)
    # the clock is past the window only after every line ran (finalize is late, not the lines)
    runner.steps.clock = lambda: time.time() + (2 * 86_400 if answers.calls >= 5 else 0)
    upload = await files.create(jsonl(5), "in.jsonl", "batch")
    done = await finished(batches, (await batches.create(_request(upload.id))).id)
    assert done.status == "completed" and done.error_file_id is None
