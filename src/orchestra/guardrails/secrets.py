"""Credentials that must not reach a model (in prompts) or a client (in answers).

Each rule is one published key format with its reserved prefix and length, so ordinary
hex digests, UUIDs and base64 blobs do not match: only a prefix a vendor reserved
(``AKIA``, ``ghp_``, ``sk-ant-``) or an explicit assignment (``api_key = ...``, an AWS
secret next to its variable name) does. The log redactor's shapes
(:mod:`orchestra.redaction`) are covered by these rules too.
"""

from __future__ import annotations

import re

from orchestra.guardrails.rules import PatternRule

_B = r"(?<![A-Za-z0-9_-])"  # no key character before: the prefix starts the token
_E = r"(?![A-Za-z0-9_-])"  # no key character after


def _key(name: str, pattern: str, *triggers: str) -> PatternRule:
    """A token-shaped key: bounded by non-key characters; a long one's remaining
    characters are swallowed by the stream redactor (its tail)."""
    return PatternRule(name, _B + pattern + _E, triggers=triggers, tail=r"[A-Za-z0-9_-]*")


SECRET_RULES: tuple[PatternRule, ...] = (
    # PEM: the header says it all; for redaction the body and the footer go with it
    PatternRule(
        "private_key",
        r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----[A-Za-z0-9+/=\r\n]*"
        r"(?:-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----)?",
        triggers=("PRIVATE KEY",),
        tail=r"[A-Za-z0-9+/=\r\n]*",
        tail_end=r"-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----",
    ),
    _key("anthropic_key", r"sk-ant-[A-Za-z0-9_-]{32,}", "sk-ant-"),
    # legacy sk-<48>, project / service-account / admin keys, OpenRouter's sk-or-v1-
    _key("openai_key", r"sk-(?:proj-|svcacct-|admin-|or-v1-)?[A-Za-z0-9_-]{32,}", "sk-"),
    _key("aws_access_key_id", r"A(?:KI|SI)A[0-9A-Z]{16}", "AKIA", "ASIA"),
    # 40 base64 characters alone are too common (a SHA-1 is 40 hex): only next to a name
    PatternRule(
        "aws_secret_access_key",
        r"aws_?secret_?(?:access_?)?key[\"']?\s*[:=]\s*[\"']?[A-Za-z0-9/+]{20,}",
        triggers=("secret",),
        tail=r"[A-Za-z0-9/+]*",
        flags=re.IGNORECASE,
    ),
    _key("github_token", r"gh[pousr]_[A-Za-z0-9]{36,255}", "ghp_", "gho_", "ghu_", "ghs_", "ghr_"),
    _key("github_token", r"github_pat_[A-Za-z0-9_]{22,255}", "github_pat_"),
    _key("slack_token", r"xox[abposr]-[A-Za-z0-9-]{10,250}", "xox"),
    _key("google_api_key", r"AIza[0-9A-Za-z_-]{35}", "AIza"),
    _key("stripe_key", r"[sr]k_(?:live|test)_[0-9A-Za-z]{16,247}", "_live_", "_test_"),
    _key("groq_key", r"gsk_[A-Za-z0-9]{40,}", "gsk_"),
    _key("jwt", r"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}", "eyJ"),
    # a value assigned to a name that says it is secret: 16+ characters with a digit and
    # a letter (placeholders such as "your-api-key-here" have no digit)
    PatternRule(
        "generic_api_key",
        r"(?:api[_-]?key|secret[_-]?key|access[_-]?token|auth[_-]?token|client[_-]?secret"
        r"|password)[\"']?\s*[:=]\s*[\"']?(?=[A-Za-z0-9_\-.+/]*\d)(?=[A-Za-z0-9_\-.+/]*[a-z])"
        r"[A-Za-z0-9_\-.+/]{16,128}",
        triggers=("key", "token", "secret", "password"),
        flags=re.IGNORECASE,
    ),
)
