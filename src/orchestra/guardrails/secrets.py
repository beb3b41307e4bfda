"""Credentials that must not reach a model (in prompts) or a client (in answers).

Each rule is one published key format with its reserved prefix and length, so ordinary
hex digests, UUIDs and base64 blobs do not match: only a prefix a vendor reserved
(``AKIA``, ``ghp_``, ``sk-ant-``) or an explicit assignment (``api_key = ...``, an AWS
secret next to its variable name) does. :mod:`orchestra.redaction` (the log and error
scrubber) keeps its own looser shapes: it also masks partly masked keys vendors echo back
and ``Bearer`` headers, where a false positive only costs a log line.
"""

from __future__ import annotations

import re

from orchestra.guardrails.rules import PatternRule

_KEY_CHAR = "A-Za-z0-9_-"


def _key(name: str, prefix: str, rest: str) -> PatternRule:
    """A token-shaped key: its literal prefix first (so the regex engine skips ahead to
    it), then the check that no key character precedes it, then the rest and the check
    that none follows. A long key's remaining characters are its tail."""
    literal = re.escape(prefix)
    return PatternRule(
        name,
        rf"{literal}(?<![{_KEY_CHAR}]{literal}){rest}(?![{_KEY_CHAR}])",
        literals=(prefix,),
        tail=rf"[{_KEY_CHAR}]*",
    )


SECRET_RULES: tuple[PatternRule, ...] = (
    # PEM: the header says it all; for redaction the body and the footer go with it
    PatternRule(
        "private_key",
        r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----[A-Za-z0-9+/=\r\n]*"
        r"(?:-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----)?",
        literals=("-----BEGIN ",),
        tail=r"[A-Za-z0-9+/=\r\n]*",
        tail_end=r"-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----",
    ),
    _key("anthropic_key", "sk-ant-", r"[A-Za-z0-9_-]{32,}"),
    # legacy sk-<48>, project / service-account / admin keys, OpenRouter's sk-or-v1-
    _key("openai_key", "sk-", r"(?:proj-|svcacct-|admin-|or-v1-)?[A-Za-z0-9_-]{32,}"),
    _key("aws_access_key_id", "AKIA", r"[0-9A-Z]{16}"),
    _key("aws_access_key_id", "ASIA", r"[0-9A-Z]{16}"),
    # 40 base64 characters alone are too common (a SHA-1 is 40 hex): only next to a name
    PatternRule(
        "aws_secret_access_key",
        r"aws_?secret_?(?:access_?)?key[\"']?\s*[:=]\s*[\"']?[A-Za-z0-9/+]{20,}",
        triggers=("secret",),
        flags=re.IGNORECASE,
        tail=r"[A-Za-z0-9/+]*",
    ),
    *(_key("github_token", f"gh{kind}_", r"[A-Za-z0-9]{36,255}") for kind in "pousr"),
    _key("github_token", "github_pat_", r"[A-Za-z0-9_]{22,255}"),
    _key("slack_token", "xox", r"[abposr]-[A-Za-z0-9-]{10,250}"),
    _key("google_api_key", "AIza", r"[0-9A-Za-z_-]{35}"),
    _key("stripe_key", "sk_", r"(?:live|test)_[0-9A-Za-z]{16,247}"),
    _key("stripe_key", "rk_", r"(?:live|test)_[0-9A-Za-z]{16,247}"),
    _key("groq_key", "gsk_", r"[A-Za-z0-9]{40,}"),
    _key("jwt", "eyJ", r"[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"),
    # a value assigned to a name that says it is secret: 16+ characters with a digit and
    # a letter (placeholders such as "your-api-key-here" have no digit)
    PatternRule(
        "generic_api_key",
        r"(?:api[_-]?key|secret[_-]?key|access[_-]?token|auth[_-]?token|client[_-]?secret"
        r"|password)[\"']?\s*[:=]\s*[\"']?(?=[A-Za-z0-9_\-.+/]*\d)(?=[A-Za-z0-9_\-.+/]*[a-z])"
        r"[A-Za-z0-9_\-.+/]{16,128}",
        triggers=("apikey", "api_key", "api-key", "secret", "token", "password"),
        flags=re.IGNORECASE,
    ),
)
