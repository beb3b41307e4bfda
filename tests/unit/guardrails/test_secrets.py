"""Secret patterns: each published key format is found; hashes, UUIDs, blobs are not."""

from __future__ import annotations

import pytest

from orchestra.guardrails.rules import first_rule
from orchestra.guardrails.secrets import SECRET_RULES


def _rule(text: str) -> str | None:
    return first_rule(SECRET_RULES, text, text.lower())


# fake credentials in each format (random characters of the right shape)
KEYS = {
    "openai_key": "sk-proj-Zx8Kq2Lm5Np7Rs9Tu1Vw3Xy5Za7Bc9De1Fg3Hi5Jk7",
    "anthropic_key": "sk-ant-api03-Q1w2E3r4T5y6U7i8O9p0A1s2D3f4G5h6J7k8L9z0X1c2V3b4N5m6",
    "aws_access_key_id": "ASIAY34FZKBOKMUTVV7A",
    "aws_secret_access_key": "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    "github_token": "ghp_R4nD0mT0k3nV4lu3F0rT3st1ngPurp0s3sXy",
    "slack_token": "xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx",
    "google_api_key": "AIzaSyD-9tSrke72PouQMnMX-a7eZSW0jkFMBWY",
    "stripe_key": "sk_live_51H8xYzAbCdEfGhIjKlMnOpQr",
    "groq_key": "gsk_" + "aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3zA5bC7d",
    "jwt": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
    "private_key": "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n",
    "generic_api_key": 'config = {"api_key": "f3a9c1e27b5d48e6a0b1"}',
}


@pytest.mark.parametrize(("rule", "sample"), sorted(KEYS.items()))
def test_each_key_format_is_found_by_its_rule(rule: str, sample: str) -> None:
    assert _rule(f"here is my key: {sample} thanks") == rule


@pytest.mark.parametrize(
    "text",
    [
        "sha1 da39a3ee5e6b4b0d3255bfef95601890afd80709",
        "sha256 e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "uuid 550e8400-e29b-41d4-a716-446655440000",
        "commit 4b825dc642cb6eb9a060e54bf8d69288fbee4904",
        "blob aGVsbG8gd29ybGQgdGhpcyBpcyBhIHRlc3Qgb2YgYmFzZTY0",
        "set OPENAI_API_KEY=sk-... in your shell",
        "api_key = your-api-key-here",
        "password: correct horse battery staple",
        "the task-ant-colony simulation",
        "mask AKIA**************** was rotated",
        "the risk-proj-management meeting",
    ],
)
def test_look_alikes_are_not_secrets(text: str) -> None:
    assert _rule(text) is None


def test_every_match_contains_one_of_its_rules_triggers() -> None:
    # the triggers are a faithful pre-filter: a rule skipped for want of a trigger could
    # not have matched anyway
    for sample in [*KEYS.values(), "github_pat_11ABCDEFG0123456789_abcdefghijklmnop"]:
        for rule in SECRET_RULES:
            match = rule.compiled.search(sample)
            if match is None or not rule.triggers:
                continue
            found = match.group().lower() if rule.flags else match.group()
            assert any(t in found for t in rule.triggers), rule.name
