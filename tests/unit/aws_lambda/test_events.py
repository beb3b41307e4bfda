"""Which Lambda events the API functions answer, and why the others are refused."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from orchestra.aws_lambda.events import (
    EXPECTED_EVENT,
    UnsupportedEvent,
    scope_and_body,
    why_unsupported,
)

from support.unsupported_events import UNSUPPORTED

EVENTS = Path(__file__).resolve().parents[3] / "events"
#: every sample event of the API functions (the others are Step Functions and schedules)
SAMPLES = sorted(
    path
    for function in ("generate", "multi_generate", "debate_api", "admin")
    for path in (EVENTS / function).glob("*.json")
)


def _sample(path: Path) -> dict[str, Any]:
    event: dict[str, Any] = json.loads(path.read_text())
    return event


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_sample_api_event_is_translated(path: Path) -> None:
    event = _sample(path)
    assert why_unsupported(event) is None
    scope, body = scope_and_body(event, None)
    http = event["requestContext"].get("http", {})
    assert scope["type"] == "http"
    assert scope["method"] == (event.get("httpMethod") or http["method"])
    assert scope["path"] == (event.get("path") or http["path"])
    raw = (event.get("body") or "").encode()
    assert body == (base64.b64decode(raw) if event["isBase64Encoded"] else raw)


@pytest.mark.parametrize(("event", "reason"), UNSUPPORTED.values(), ids=UNSUPPORTED.keys())
def test_an_unsupported_event_is_refused_saying_why(event: Any, reason: str) -> None:
    with pytest.raises(UnsupportedEvent) as caught:
        scope_and_body(event, None)
    assert caught.value.reason == reason
    assert caught.value.message == f"unsupported event: {reason}; {EXPECTED_EVENT}"
    if not reason.startswith("a malformed proxy request"):
        assert why_unsupported(event) == reason  # told apart before Mangum reads anything


def _v2(**changes: Any) -> dict[str, Any]:
    return {**_sample(EVENTS / "generate" / "http_v2_health.json"), **changes}


@pytest.mark.parametrize(
    ("changes", "kind"),
    [
        ({"isBase64Encoded": True, "body": "not base64!"}, "Error"),  # binascii.Error
        ({"headers": {"host": "a:b:c"}}, "ValueError"),
        ({"headers": {"host": "h", "x-forwarded-port": "https"}}, "ValueError"),
        ({"headers": {"accept": 1}}, "AttributeError"),
        ({"rawQueryString": None}, "AttributeError"),
        ({"cookies": [1]}, "TypeError"),
    ],
    ids=["bad base64 body", "bad host", "bad port", "header not text", "null query", "bad cookie"],
)
def test_a_proxy_event_mangum_cannot_read_is_refused_by_error_type_only(
    changes: dict[str, Any], kind: str
) -> None:
    # Given an HTTP API event with the right shape but a part Mangum cannot translate
    event = _v2(**changes)
    assert why_unsupported(event) is None
    # When it is translated, then it is refused, named by the error's type alone
    with pytest.raises(UnsupportedEvent) as caught:
        scope_and_body(event, None)
    assert caught.value.reason == f"a malformed proxy request ({kind})"
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


def test_a_base64_body_is_decoded() -> None:
    raw = b'{"model": "auto"}'
    event = _v2(isBase64Encoded=True, body=base64.b64encode(raw).decode())
    assert scope_and_body(event, None)[1] == raw


def test_payload_format_1_0_and_a_rest_event_without_version_are_both_rest() -> None:
    rest = _sample(EVENTS / "generate" / "rest_v1_models_rankings.json")
    assert rest["version"] == "1.0"
    unversioned = {k: v for k, v in rest.items() if k != "version"}
    for event in (rest, unversioned):
        scope, _ = scope_and_body(event, None)
        assert (scope["method"], scope["path"]) == ("GET", "/v1/models/rankings")
    assert why_unsupported({**unversioned, "httpMethod": 7}) == (
        "a REST (v1) request without httpMethod"
    )
