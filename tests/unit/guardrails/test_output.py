"""Output redaction: whole answers and streams, which must agree for any chunking."""

from __future__ import annotations

import random

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from orchestra.guardrails.output import MIN_LOOKBEHIND, OutputRedactor

REDACTOR = OutputRedactor()
# fake credentials in each vendor's published format (none of them is a real key)
OPENAI_PROJECT_KEY = "sk-proj-" + "Ab3dE5gH7jK9mN1pQ3sT5vW7yZ9bC1eF" * 5
AWS_KEY_ID = "AKIAIOSFODNN7EXAMPLE"
PEM = (
    "-----BEGIN RSA PRIVATE KEY-----\n"
    + ("MIIEpAIBAAKCAQEA3Tz2mr7SZiAMfQyuvBjM2NkL0Q5x9b8CqYpE7xWvR1gTnQ3L\n" * 12)
    + "-----END RSA PRIVATE KEY-----"
)
ANSWER = (
    f"Write to bob.smith@example.co.uk or call +44 20 7946 0958. Card 4111 1111 1111 1111, "
    f"IBAN GB82 WEST 1234 5698 7654 32. Key {AWS_KEY_ID}; project key {OPENAI_PROJECT_KEY}.\n"
    f"{PEM}\nDone: sha256 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08, "
    "id 123e4567-e89b-12d3-a456-426614174000, released 2024-01-15 as v10.0.19041.1."
)


def _stream(text: str, cuts: list[int], lookbehind: int) -> tuple[str, int]:
    """The stream's output for ``text`` cut at ``cuts``, and the most it ever held."""
    redactor = REDACTOR.stream(lookbehind)
    pieces, most = [], 0
    for start, end in zip([0, *cuts], [*cuts, len(text)], strict=True):
        pieces.append(redactor.feed(text[start:end]))
        most = max(most, redactor.held)
    return "".join(pieces) + redactor.flush(), most


def test_every_kind_is_redacted_and_look_alikes_are_kept() -> None:
    redacted, rules = REDACTOR.redact(ANSWER)
    assert rules == [
        "email",
        "phone",
        "card_number",
        "iban",
        "aws_access_key_id",
        "openai_key",
        "private_key",
    ]
    for secret in ("bob.smith", "7946", "4111", "GB82", AWS_KEY_ID, "Ab3dE5", "MIIE", "END RSA"):
        assert secret not in redacted
    assert "[REDACTED:private_key]\nDone" in redacted
    for kept in ("9f86d081884c7d659a2feaa0c55ad015", "123e4567-e89b", "2024-01-15", "10.0.19041.1"):
        assert kept in redacted


def test_a_key_split_across_chunks_is_still_caught() -> None:
    # Given an AWS key id cut in the middle, a chunk per token as a model streams
    text = f"your key is {AWS_KEY_ID} keep it safe"
    cut = text.index(AWS_KEY_ID) + 7
    # When it streams in two chunks / one character at a time
    two, _ = _stream(text, [cut], 64)
    chars, _ = _stream(text, list(range(1, len(text))), 64)
    # Then neither half of the key appears
    assert two == chars == "your key is [REDACTED:aws_access_key_id] keep it safe"


@pytest.mark.parametrize("lookbehind", [MIN_LOOKBEHIND, 64, 200])
@pytest.mark.parametrize("seed", range(40))
def test_any_chunking_matches_the_whole_text_and_lag_stays_bounded(
    lookbehind: int, seed: int
) -> None:
    # seeded splits, a long project key and a PEM block (both longer than the
    # look-behind) included: their tails are swallowed, so they agree too
    rnd = random.Random(seed)
    cuts = sorted(rnd.sample(range(1, len(ANSWER)), rnd.randint(1, len(ANSWER) // 2)))
    streamed, most = _stream(ANSWER, cuts, lookbehind)
    assert streamed == REDACTOR.redact(ANSWER)[0]
    assert most < lookbehind


FRAGMENTS = [
    "mail a.b@example.org now",
    "+1 (206) 555-0100",
    "(555) 123-4567",
    "06 12 34 56 78",
    "5555 5555 5555 4444",
    "4111-1111-1111-1112",  # fails Luhn: kept
    "DE89 3704 0044 0532 0130 00",
    AWS_KEY_ID,
    "ghp_" + "a1B2c3D4e5" * 4,
    "2024-01-15",
    "10.0.19041.1",
    "192.168.100.200",
    "order 12345678901234567890",
    "d41d8cd98f00b204e9800998ecf8427e",
]


@settings(max_examples=300, deadline=None)
@given(
    parts=st.lists(
        st.one_of(
            st.sampled_from(FRAGMENTS), st.text(alphabet="ab 0123456789.-+@()\n", max_size=12)
        ),
        max_size=12,
    ),
    data=st.data(),
)
def test_property_stream_equals_whole_for_any_split(parts: list[str], data: st.DataObject) -> None:
    text = "".join(parts)
    lookbehind = 64
    # the property's premise: every match is shorter than the look-behind
    assume(all(len(m) < lookbehind for m in REDACTOR.matches(text)))
    cuts = sorted(set(data.draw(st.lists(st.integers(1, max(1, len(text) - 1)), max_size=30))))
    cuts = [c for c in cuts if 0 < c < len(text)]
    streamed, most = _stream(text, cuts, lookbehind)
    assert streamed == REDACTOR.redact(text)[0]
    assert most < lookbehind


def test_stream_lists_the_rules_it_redacted_and_lags_by_at_most_the_lookbehind() -> None:
    redactor = REDACTOR.stream(64)
    released = redactor.feed("x" * 100)
    assert released == "x" * 37  # 100 received, 63 held
    redactor.feed(" mail me: jane@example.com ")
    assert redactor.flush().endswith("[REDACTED:email] ")
    assert redactor.rules == ["email"]


def test_a_too_short_lookbehind_is_raised_to_the_minimum() -> None:
    redactor = REDACTOR.stream(16)
    text = f"key {AWS_KEY_ID} and {OPENAI_PROJECT_KEY[:60]} ok"
    out = "".join(redactor.feed(c) for c in text) + redactor.flush()
    assert out == "key [REDACTED:aws_access_key_id] and [REDACTED:openai_key] ok"


def test_a_pem_footer_split_across_chunks_is_swallowed_with_its_block() -> None:
    text = f"here:\n{PEM}\nthanks"
    footer = text.index("-----END")
    streamed, _ = _stream(text, [footer + 3, footer + 9, footer + 20], 64)
    assert streamed == "here:\n[REDACTED:private_key]\nthanks"


def test_text_without_anything_to_redact_is_unchanged() -> None:
    text = "The build passed; 3 of 4 checks were green on 2024-05-01."
    assert REDACTOR.redact(text) == (text, [])
    assert _stream(text, [5, 17], 64)[0] == text
