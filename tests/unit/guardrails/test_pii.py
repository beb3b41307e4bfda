"""PII patterns with their checks: Luhn cards, mod-97 IBANs, phone layouts, e-mail."""

from __future__ import annotations

import pytest

from orchestra.guardrails.output import OutputRedactor
from orchestra.guardrails.pii import PII_RULES, iban_valid, luhn_valid

REDACT = OutputRedactor(PII_RULES).redact


def test_luhn_and_iban_checksums() -> None:
    assert luhn_valid("4111111111111111") and not luhn_valid("4111111111111112")
    assert iban_valid("GB82 WEST 1234 5698 7654 32") and iban_valid("DE89370400440532013000")
    assert not iban_valid("GB82 WEST 1234 5698 7654 33")


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        ("contact jane.doe+news@mail.example.com today", "email"),
        ("Visa 4111 1111 1111 1111 exp 12/29", "card_number"),
        ("Mastercard 5555-5555-5555-4444", "card_number"),
        ("Amex 378282246310005", "card_number"),
        ("IBAN FR14 2004 1010 0505 0001 3M02 606", "iban"),
        ("pay to NL91ABNA0417164300", "iban"),
        ("call +1 206 555 0100", "phone"),
        ("call +442079460958", "phone"),
        ("call (415) 555-2671", "phone"),
        ("call 415-555-2671", "phone"),
        ("appelez le 06 12 34 56 78", "phone"),
        ("ring 020 7946 0958", "phone"),
    ],
)
def test_pii_is_redacted_by_its_rule(text: str, rule: str) -> None:
    redacted, rules = REDACT(text)
    assert rules == [rule]
    assert f"[REDACTED:{rule}]" in redacted


@pytest.mark.parametrize(
    "text",
    [
        "card 4111 1111 1111 1112 fails Luhn",
        "order number 1234567890123456789012",
        "tracking 7000 0000 0000 0000",  # Luhn-valid but no card network starts with 7
        "the date 2024-01-15 and 15.01.2024 and 01/15/2024",
        "version 10.0.19041.1 and 1.2.3-beta.4",
        "IP 192.168.100.200 and 10.0.0.1",
        "IBAN-like GB82 WEST 1234 5698 7654 33 with a wrong check",
        "invoice INV-2024-000123 total 1234.56",
        "timestamp 1717171717171 and port 8080",
        "ISBN 978-3-16-148410-0",
        "see RFC 2616 section 14.9",
        "user@localhost has no domain",
        "lat 48.858370, long 2.294481",
    ],
)
def test_look_alikes_are_kept(text: str) -> None:
    assert REDACT(text) == (text, [])
