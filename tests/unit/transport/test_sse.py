"""The incremental SSE decoder: any split, any line ending, comments and multi-line data."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from orchestra.transport.sse import SSEDecoder, SSEEvent

STREAM = (
    ": OPENROUTER PROCESSING\r\n\r\n"
    'event: message_start\r\ndata: {"a": 1}   \r\n\r\n'
    "data: line one\ndata: line two\n\n"
    "data: [DONE]\r\r"
)
EXPECTED = [
    SSEEvent("message_start", '{"a": 1}   '),
    SSEEvent("message", "line one\nline two"),
    SSEEvent("message", "[DONE]"),
]


def _decode(pieces: list[bytes]) -> list[SSEEvent]:
    decoder = SSEDecoder()
    events = [e for piece in pieces for e in decoder.feed(piece)]
    return events + decoder.flush()


def test_whole_stream():
    assert _decode([STREAM.encode()]) == EXPECTED


@given(st.lists(st.integers(min_value=1, max_value=len(STREAM) - 1), max_size=12))
def test_any_split_gives_the_same_events(cuts):
    raw = STREAM.encode()
    points = sorted(set(cuts))
    pieces = [raw[a:b] for a, b in zip([0, *points], [*points, len(raw)], strict=True)]
    assert _decode(pieces) == EXPECTED


def test_final_event_without_blank_line_still_counts():
    assert _decode([b"data: tail"]) == [SSEEvent("message", "tail")]
