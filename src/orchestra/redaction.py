"""Keeps provider and client keys out of error bodies and log lines.

Defence in depth: adapters never put keys in messages, but vendor error text is echoed to
clients, and a vendor may quote a key back (OpenAI's 401 does, partly masked). Every
configured key, and anything shaped like a well-known key format, is replaced.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

_KEY_SHAPES = re.compile(
    r"(sk-(?:ant-|or-|proj-)?[A-Za-z0-9_\-*]{8,}|AIza[0-9A-Za-z_\-]{20,}|gsk_[A-Za-z0-9]{16,}"
    r"|AKIA[0-9A-Z]{16}|(?i:bearer)\s+[A-Za-z0-9._\-]{12,})"
)
MASK = "[REDACTED]"


class Redactor:
    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        self._secrets = sorted({s for s in secrets if s and len(s) >= 6}, key=len, reverse=True)

    def scrub(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, MASK)
        return _KEY_SHAPES.sub(MASK, text)


class RedactingFilter(logging.Filter):
    """A logging filter that scrubs the formatted message and its arguments."""

    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self.redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        scrubbed = self.redactor.scrub(message)
        if scrubbed != message:
            record.msg, record.args = scrubbed, None
        return True
