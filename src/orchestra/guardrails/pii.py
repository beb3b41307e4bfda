"""Personal data in answers: e-mail addresses, phone numbers, payment cards, IBANs.

Each pattern is paired with a check a regex cannot make, so that look-alikes stay: card
numbers must pass Luhn's checksum and start like a card network's number, an IBAN must
pass ISO 7064 mod 97-10, a phone number needs a ``+`` country code or a national layout
with separators (dates, versions, IP addresses and order numbers have neither).
"""

from __future__ import annotations

from orchestra.guardrails.rules import PatternRule

_NO_DIGIT_AFTER = r"(?![\w]|[.,-]\d)"


def luhn_valid(digits: str) -> bool:
    """Luhn's checksum over a string of digits."""
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = ord(char) - 48
        if index % 2:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def card_valid(text: str) -> bool:
    """13 to 19 digits, one kind of separator, a network's leading digit (2-6), Luhn."""
    separators = {c for c in text if not c.isdigit()}
    digits = "".join(c for c in text if c.isdigit())
    return (
        len(separators) <= 1
        and 13 <= len(digits) <= 19
        and digits[0] in "23456"
        and luhn_valid(digits)
    )


def iban_valid(text: str) -> bool:
    """ISO 13616: 15 to 34 characters, check digits by ISO 7064 mod 97-10."""
    compact = text.replace(" ", "")
    if not 15 <= len(compact) <= 34:
        return False
    rearranged = compact[4:] + compact[:4]
    number = "".join(str(int(c, 36)) for c in rearranged)
    return int(number) % 97 == 1


def phone_valid(text: str) -> bool:
    """8 to 15 digits (E.164's maximum), no doubled separator, brackets only in pairs."""
    digits = sum(c.isdigit() for c in text)
    doubled = any(pair in text for pair in ("..", "--", "  ", "((", "))", ".-", "-."))
    return 8 <= digits <= 15 and not doubled and text.count("(") == text.count(")") <= 1


PII_RULES: tuple[PatternRule, ...] = (
    PatternRule(
        "email",
        r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]{1,63}"
        r"(?:\.[A-Za-z0-9-]{1,63})*\.[A-Za-z]{2,24}(?![A-Za-z0-9-])",
        anchors=("@",),
        reach=64,
        span=330,
        tail=r"[A-Za-z0-9.-]*",
    ),
    # two capitals, two check digits, then groups: the shape of its start is "..11"
    PatternRule(
        "iban",
        r"(?<![A-Za-z0-9])[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?(?![A-Za-z0-9])",
        valid=iban_valid,
        anchors=(b"..11",),
        reach=0,
        span=46,
    ),
    # written whole or in groups of four (Amex 4-6-5): four digits in a row somewhere
    PatternRule(
        "card_number",
        r"[2-6](?<![\w.,-][2-6])(?:[ -]?\d){12,18}" + _NO_DIGIT_AFTER,
        valid=card_valid,
        anchors=(b"1111",),
        reach=37,
        span=41,
    ),
    # international: +<country code> and 7 to 14 more digits, spaces, dots, dashes, brackets
    PatternRule(
        "phone",
        r"(?<![\w+])\+[1-9][\d ().-]{6,22}\d" + _NO_DIGIT_AFTER,
        valid=phone_valid,
        anchors=("+",),
        reach=0,
        span=28,
    ),
    # North American: (555) 123-4567, 555-123-4567, 555.123.4567
    PatternRule(
        "phone",
        r"(?<![\w.+-])(?:\(\d{3}\) ?|\d{3}[-. ])\d{3}[-. ]\d{4}" + _NO_DIGIT_AFTER,
        anchors=(b"1111",),
        reach=14,
        span=18,
    ),
    # national layouts with a trunk 0: 06 12 34 56 78 / 06.12.34.56.78 (France) ...
    PatternRule(
        "phone",
        r"0(?<![\w.+-]0)[1-9](?: \d{2}){4}" + _NO_DIGIT_AFTER,
        anchors=(b"11 11 11",),
        reach=4,
        span=18,
    ),
    PatternRule(
        "phone",
        r"0(?<![\w.+-]0)[1-9](?:\.\d{2}){4}" + _NO_DIGIT_AFTER,
        anchors=(b"11.11.11",),
        reach=4,
        span=18,
    ),
    # ... and 020 7946 0958, 07700 900123, 030 1234 5678 (UK, Germany)
    PatternRule(
        "phone",
        r"0(?<![\w.+-]0)[1-9]\d{1,3} \d{3,4}(?: \d{3,4})?" + _NO_DIGIT_AFTER,
        valid=phone_valid,
        anchors=(b"1 111",),
        reach=4,
        span=18,
    ),
)
