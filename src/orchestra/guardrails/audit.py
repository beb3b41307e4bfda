"""The security audit line: one per guardrail action, on logger ``orchestra.security``.

The line names who (the key's id, never the key), which guardrail and rule, and what was
done; never the text that matched. It is written both as ``key=value`` pairs in the
message (readable in plain logs) and as structured fields (Powertools' JSON logger puts
``extra`` keys at the top level, so CloudWatch Logs Insights can filter on them).
Extra fields are for counts and names only: values are kept to scalars and strings are cut
to :data:`MAX_FIELD_CHARS`, so a caller cannot smuggle a prompt into the log by mistake.
"""

from __future__ import annotations

import logging

SECURITY_LOG = logging.getLogger("orchestra.security")
MAX_FIELD_CHARS = 64

#: LogRecord attributes that ``extra`` may not overwrite
_RESERVED = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message"}


def audit(
    log: logging.Logger | None,
    key_id: str,
    check: str,
    rule: str,
    action: str,
    **fields: str | int | float | bool | None,
) -> None:
    """Write one audit line (``log`` None: :data:`SECURITY_LOG`). ``block`` is a warning,
    anything else (``flag``, ``redact``, ``error``) is info."""
    record: dict[str, str | int | float | bool | None] = {
        "event": "guardrail",
        "key_id": _short(key_id),
        "check": _short(check),
        "rule": _short(rule),
        "action": _short(action),
    }
    for name, value in fields.items():
        if isinstance(value, str):
            value = _short(value)
        elif not isinstance(value, int | float | bool | None):
            value = type(value).__name__
        record[f"{name}_" if name in _RESERVED or name in record else name] = value
    message = "guardrail " + " ".join(f"{k}={v}" for k, v in record.items() if k != "event")
    level = logging.WARNING if action == "block" else logging.INFO
    (log or SECURITY_LOG).log(level, message, extra=record)


def _short(value: str) -> str:
    """At most MAX_FIELD_CHARS printable characters with no spaces (one token per field)."""
    cleaned = "".join(c if c.isprintable() and not c.isspace() else "_" for c in value)
    return cleaned[:MAX_FIELD_CHARS]
