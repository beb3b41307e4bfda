"""The security audit line: names who, which rule, what action; never the text."""

from __future__ import annotations

import logging

import pytest

from orchestra.errors import GuardrailBlocked
from orchestra.guardrails.audit import SECURITY_LOG, audit
from orchestra.guardrails.input import InputChecks

SECRET_TEXT = "my key is AKIAIOSFODNN7EXAMPLE please"


def test_one_structured_line_with_the_fields_and_never_the_text(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Given a prompt that a block-mode secrets check refuses
    caplog.set_level(logging.INFO, logger="orchestra.security")
    checks = InputChecks("off", "block", "off", 1000)
    with pytest.raises(GuardrailBlocked) as caught:
        checks.check([("user", SECRET_TEXT)])
    # When the pipeline audits the refusal
    audit(None, "ci-bot", "secrets", caught.value.rule, "block", route="chat", count=1)
    # Then one warning line on orchestra.security names the key, check, rule and action
    [record] = caplog.records
    assert record.name == SECURITY_LOG.name and record.levelno == logging.WARNING
    assert record.getMessage() == (
        "guardrail key_id=ci-bot check=secrets rule=aws_access_key_id action=block route=chat count=1"
    )
    assert (record.key_id, record.rule, record.action) == ("ci-bot", "aws_access_key_id", "block")  # type: ignore[attr-defined]
    # and nothing of the text, anywhere in the record
    for fragment in ("AKIAIOSFODNN7EXAMPLE", "my key"):
        assert fragment not in caplog.text
        assert all(fragment not in str(v) for v in vars(record).values())


def test_fields_are_cut_and_cannot_overwrite_the_record(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="orchestra.security")
    audit(
        SECURITY_LOG, "k", "injection", "ignore_instructions", "flag", message="x" * 500, score=0.9
    )
    [record] = caplog.records
    assert record.levelno == logging.INFO
    assert record.message_ == "x" * 64  # type: ignore[attr-defined]
    assert record.score == 0.9  # type: ignore[attr-defined]
    assert "x" * 65 not in record.getMessage()
