"""The fast path's parts (``api/fast_hits.py``): which requests it may serve, the raw id,
the body read, and the memo's bounds."""

from __future__ import annotations

from typing import Any

from orchestra.api.fast_hits import (
    MAX_MESSAGES,
    Repeat,
    RepeatMemo,
    buffered,
    candidate,
    raw_id,
    replaying,
)
from orchestra.cache.records import CachedAnswer
from orchestra.cache.repeat import RepeatHit

BODY = b'{"model":"auto"}'


def _headers(**extra: str) -> list[tuple[bytes, bytes]]:
    found = [(b"content-length", str(len(BODY)).encode())]
    return found + [(k.replace("_", "-").encode(), v.encode()) for k, v in extra.items()]


def test_credentials_are_read_as_the_normal_path_reads_them() -> None:
    assert candidate(_headers(authorization="Bearer a"), 1024).credentials == "Bearer a"  # type: ignore[union-attr]
    assert candidate(_headers(x_api_key="b"), 1024).credentials == "Bearer b"  # type: ignore[union-attr]
    assert candidate(_headers(x_goog_api_key="c"), 1024).credentials == "Bearer c"  # type: ignore[union-attr]
    both = candidate(_headers(authorization="Bearer a", x_api_key="b"), 1024)
    assert both is not None and both.credentials == "Bearer a"
    assert candidate(_headers(), 1024).credentials is None  # type: ignore[union-attr]


def test_requests_that_must_go_the_normal_way() -> None:
    assert candidate(_headers(cache_control="no-cache"), 1024) is None
    assert candidate(_headers(x_orchestra_cache_ttl="5"), 1024) is None
    assert candidate(_headers(transfer_encoding="chunked"), 1024) is None
    assert candidate([(b"authorization", b"Bearer a")], 1024) is None  # no length
    assert candidate(_headers(), 4) is None  # over the bound
    assert candidate([(b"content-length", b"0")], 1024) is None


def test_the_raw_id_separates_credentials_principals_and_bodies() -> None:
    ids = {
        raw_id("Bearer a", None, BODY),
        raw_id("Bearer b", None, BODY),
        raw_id(None, None, BODY),
        raw_id(None, "team-a", BODY),
        raw_id(None, "team-b", BODY),
        raw_id("Bearer a", None, BODY + b" "),
        raw_id("Bearer a\0", None, BODY),
    }
    assert len(ids) == 7
    assert raw_id("Bearer a", None, BODY) == raw_id("Bearer a", None, BODY)


def _receiving(messages: list[dict[str, Any]]) -> Any:
    async def receive() -> dict[str, Any]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    return receive


async def test_a_body_in_a_few_messages_is_read_whole_and_replayed_as_it_came() -> None:
    parts = [
        {"type": "http.request", "body": BODY[:5], "more_body": True},
        {"type": "http.request", "body": BODY[5:], "more_body": False},
    ]
    receive = _receiving(list(parts))
    read, body = await buffered(receive, len(BODY))
    assert body == BODY
    replay = replaying(read, receive)
    assert [await replay(), await replay()] == parts
    assert await replay() == {"type": "http.disconnect"}  # then the real receive


async def test_a_body_too_long_short_or_in_too_many_messages_is_not_read_whole() -> None:
    one = {"type": "http.request", "body": BODY, "more_body": False}
    assert (await buffered(_receiving([dict(one)]), len(BODY) - 1))[1] is None
    assert (await buffered(_receiving([dict(one)]), len(BODY) + 1))[1] is None
    many = [{"type": "http.request", "body": b"x", "more_body": True}] * (MAX_MESSAGES + 2)
    read, body = await buffered(_receiving(list(many)), 100)
    assert body is None and len(read) == MAX_MESSAGES


def _repeat(size: int) -> Repeat:
    answer = CachedAnswer(b"{}", "m", "p", 0, 0.0, 1.0)
    hit = RepeatHit("k", answer, None, "key", None, None, None)
    return Repeat(hit, [(b"x-orchestra-cache-age", b"0")], b"x" * size)


def test_the_memo_is_bounded_in_entries_and_bytes_oldest_dropped_first() -> None:
    memo = RepeatMemo(max_entries=2, max_bytes=10_000)
    for raw in (b"a", b"b", b"c"):
        memo.put(raw, _repeat(10))
    assert memo.get(b"a") is None and memo.get(b"b") is not None and len(memo) == 2
    memo.put(b"big", _repeat(9_000))
    memo.put(b"big2", _repeat(9_000))
    assert memo.get(b"big") is None and memo.get(b"big2") is not None
    assert memo.bytes <= 10_000
    memo.put(b"huge", _repeat(20_000))
    assert memo.get(b"huge") is None
    memo.drop(b"big2")
    assert len(memo) == 0 and memo.bytes == 0


def test_the_age_header_is_recomputed() -> None:
    assert _repeat(1).aged(12.7) == [(b"x-orchestra-cache-age", b"12")]
