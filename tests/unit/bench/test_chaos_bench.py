"""The chaos bench's own checks: the answers its upstreams give and how its client judges them.

The bench (``bench/chaos.py``) is a script, not a test; these check that its verdicts can
be trusted. No network: pure functions only.
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "bench"))

from chaos import classify_buffered, classify_stream
from chaos_upstream import (
    OVERLAP_CHARS,
    PROFILES,
    answer_for,
    completion,
    expected_answer,
    prompt,
    sse_events,
    truncated,
)

EXPECTED = expected_answer(prompt(7))


def stream_bytes(events: list[bytes]) -> bytes:
    return b"".join(events)


def test_expected_answer_is_a_fixed_sentence_per_prompt() -> None:
    assert expected_answer(prompt(7)) == EXPECTED
    assert expected_answer(prompt(8)) != EXPECTED
    assert len(EXPECTED.split()) == 40


def test_continuations_answer_the_remainder_with_or_without_overlap() -> None:
    user = {"role": "user", "content": prompt(7)}
    partial = {"role": "assistant", "content": EXPECTED[:33]}
    # Given a prefill (the conversation ends with the partial answer)
    text, continued = answer_for([user, partial])
    assert (text, continued) == (EXPECTED[33:], True)
    # Given an instruction after the partial answer: the overlap comes first
    text, continued = answer_for([user, partial, {"role": "user", "content": "continue"}])
    assert continued
    assert text == EXPECTED[33 - OVERLAP_CHARS : 33] + EXPECTED[33:]


def test_faults_are_drawn_in_the_configured_shares() -> None:
    rng = random.Random(1)
    draws = [PROFILES["a"].draw(rng) for _ in range(20_000)]
    assert abs(draws.count("500") / 20_000 - 0.30) < 0.02
    assert abs(draws.count("hang") / 20_000 - 0.02) < 0.005
    assert "429" not in draws


def test_a_truncated_stream_keeps_at_least_one_content_chunk_and_never_all() -> None:
    events = sse_events(EXPECTED, "m", 5, usage=True)
    for cut_at in (0.0, 0.5, 0.999):
        kept = truncated(events, cut_at)
        verdict = classify_stream(200, stream_bytes(kept), EXPECTED)
        assert verdict.kind == "silent truncation"
        assert 2 <= len(kept) < 41


def test_complete_stream_and_buffered_answers() -> None:
    events = sse_events(EXPECTED, "m", 5, usage=True)
    assert classify_stream(200, stream_bytes(events), EXPECTED).kind == "complete"
    body = json.dumps(completion(EXPECTED, "m", 5)).encode()
    assert classify_buffered(200, body, EXPECTED).kind == "complete"


def test_a_wrong_or_broken_200_is_a_silent_truncation() -> None:
    body = json.dumps(completion(EXPECTED[:-5], "m", 5)).encode()
    assert classify_buffered(200, body, EXPECTED).kind == "silent truncation"
    assert classify_buffered(200, b"<html>502</html>", EXPECTED).kind == "silent truncation"
    events = sse_events(EXPECTED[:20], "m", 5, usage=False)
    assert classify_stream(200, stream_bytes(events), EXPECTED).kind == "silent truncation"


def test_errors_in_openai_shape_are_explicit_and_others_are_not() -> None:
    error = json.dumps({"error": {"message": "all failed", "type": "x"}}).encode()
    assert classify_buffered(502, error, EXPECTED).kind == "explicit error"
    assert classify_stream(502, error, EXPECTED).kind == "explicit error"
    assert classify_buffered(502, b"Bad Gateway", EXPECTED).kind == "silent truncation"
    # Given a stream that broke after its first content with an error event (no [DONE])
    events = sse_events(EXPECTED, "m", 5, usage=False)[:3]
    verdict = classify_stream(200, stream_bytes([*events, b"data: " + error + b"\n\n"]), EXPECTED)
    assert verdict.kind == "explicit error"
    assert verdict.in_stream
    assert verdict.after_text


def test_a_continuation_marker_in_the_final_chunk_is_seen() -> None:
    events = sse_events(EXPECTED, "m", 5, usage=False)
    final = json.loads(events[-2][len(b"data: ") :])
    final["orchestra"] = {"continued": [{"model": "chaos-c/chaos-1"}]}
    events[-2] = b"data: " + json.dumps(final).encode() + b"\n\n"
    verdict = classify_stream(200, stream_bytes(events), EXPECTED)
    assert (verdict.kind, verdict.continued) == ("complete", True)
