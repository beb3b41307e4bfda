"""The cache CPU bench's own checks: its prompts are the sizes it says, and its count of
second-level reads sees the one GetItem a shared hit makes (moto, in process)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "bench"))

from cache_cpu import SIZES, conversation, l2_reads, miss_us


@pytest.mark.parametrize("size", SIZES)
def test_a_conversation_holds_the_characters_it_names(size: int) -> None:
    request = conversation(size)
    chars = sum(len(m.content) for m in request.messages if isinstance(m.content, str))
    assert size * 0.95 <= chars <= size


async def test_an_l2_hit_is_one_get_item_then_none() -> None:
    assert await l2_reads() == (1, 0)


def test_the_miss_figure_is_a_positive_number_of_microseconds() -> None:
    assert 0 < miss_us(1_000, repeat=20, rounds=1) < 10_000
