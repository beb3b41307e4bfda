"""What the answer cache costs a request that it cannot answer, and what a shared hit reads.

(a) A miss: ``answer_key`` (canonical JSON by pydantic-core, SHA-256) plus the LRU's
    ``get``, in CPU microseconds (``time.process_time``), for a conversation of 1 KB, 10 KB
    and 100 KB (a system prompt, seven turns, one tool). The issue's target: under 100 us
    for 10 KB. Figures: the median of the rounds, each round's mean per miss.
(b) A hit from the second level: an answer stored in DynamoDB (moto, in process) by
    another instance, looked up through ``AnswerTiers`` twice: the GetItem calls are
    counted through botocore's event system (``before-call.dynamodb.*``). Expected: exactly
    one GetItem, then none (the LRU has it).

Usage: ``python bench/cache_cpu.py [--repeat 2000] [--rounds 5]``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
from typing import Any

from orchestra.cache.keys import answer_key
from orchestra.cache.lru import ByteLRU
from orchestra.cache.records import CachedAnswer
from orchestra.cache.tiers import AnswerTiers
from orchestra.schemas.chat import ChatRequest

SIZES = (1_000, 10_000, 100_000)
TARGET_US = 100.0
TEXT = "The quick brown fox jumps over the lazy dog near the riverbank, twice a day. "
TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "unit": {"enum": ["c", "f"]}},
            "required": ["city"],
        },
    },
}


def conversation(size: int) -> ChatRequest:
    """A request whose messages hold ``size`` characters: a system prompt and 7 turns."""
    share = size // 8
    text = (TEXT * (share // len(TEXT) + 1))[:share]
    turns = [{"role": "system", "content": text}]
    turns += [{"role": ("user", "assistant")[i % 2], "content": text} for i in range(7)]
    body = {
        "model": "openai/gpt-4o-mini",
        "messages": turns,
        "temperature": 0,
        "max_tokens": 512,
        "tools": [TOOL],
    }
    return ChatRequest.model_validate(body)


def miss_us(size: int, repeat: int, rounds: int) -> float:
    """CPU microseconds of one miss (key + LRU lookup), median of ``rounds``."""
    request, lru = conversation(size), ByteLRU(64 * 1024 * 1024)
    for i in range(64):  # a warm LRU: other entries in it
        lru.put(f"k:bench:{i:032x}", answer())
    for _ in range(200):
        lru.get(answer_key(request, "k:bench"))
    figures = []
    for _ in range(rounds):
        start = time.process_time()
        for _ in range(repeat):
            lru.get(answer_key(request, "k:bench"))
        figures.append((time.process_time() - start) / repeat * 1e6)
    return statistics.median(figures)


def answer() -> CachedAnswer:
    now = time.time()
    body = b'{"id":"chatcmpl-1","object":"chat.completion","choices":[]}'
    return CachedAnswer(body, "openai/gpt-4o-mini", "openai", 120_000, now, now + 600)


async def l2_reads() -> tuple[int, int]:
    """GetItem calls for the first lookup of an entry only DynamoDB has, and the next."""
    import boto3
    from moto import mock_aws

    from orchestra.storage.cache import DynamoDBAnswerBackend
    from orchestra.storage.tables import create_tables

    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        create_tables(client, {"cache": "bench-cache"})
        key = answer_key(conversation(10_000), "k:bench")
        await DynamoDBAnswerBackend("bench-cache", client).put(key, answer(), 2**31)
        reads: list[str] = []

        def seen(model: Any, **_: Any) -> None:
            reads.append(model.name)

        client.meta.events.register("before-call.dynamodb.GetItem", seen)
        tiers = AnswerTiers(ByteLRU(1 << 20), DynamoDBAnswerBackend("bench-cache", client))
        first = await tiers.get(key)
        after_first = len(reads)
        second = await tiers.get(key)
        assert first is not None and second is not None
        return after_first, len(reads) - after_first


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    print(f"{'prompt':>8} {'µs CPU per miss (key + L1)':>28}")
    for size in SIZES:
        figure = miss_us(size, args.repeat if size < 100_000 else args.repeat // 5, args.rounds)
        mark = "" if size != 10_000 else ("  (target < 100: ok)" if figure < TARGET_US else "  !")
        print(f"{size // 1000:>5} KB {figure:>28.1f}{mark}")
    first, again = asyncio.run(l2_reads())
    print(f"L2 hit through AnswerTiers on moto DynamoDB: {first} GetItem, then {again} on repeat")


if __name__ == "__main__":
    main()
