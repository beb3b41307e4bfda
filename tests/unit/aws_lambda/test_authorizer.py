"""The TOKEN authorizer's decision: who is allowed, on what, with which usage identifier."""

from __future__ import annotations

import logging

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orchestra.aws_lambda.authorizer import (
    KeysUnavailable,
    Refused,
    authorize,
    bearer_token,
    stage_resource,
)

KEY_A = "sk-orch-team-a-0123456789abcdefghijkl"
KEY_B = "sk-orch-team-b-abcdefghijkl0123456789"
CLIENTS = {"team-a": KEY_A, "team-b": KEY_B}
ARN = "arn:aws:execute-api:eu-west-1:123456789012:abcdef1234/dev/POST/v1/chat/completions"


def _event(token: object, arn: object = ARN) -> dict[str, object]:
    return {"type": "TOKEN", "authorizationToken": token, "methodArn": arn}


def test_a_known_key_is_allowed_on_the_whole_stage_and_metered_by_its_plan() -> None:
    answer = authorize(_event(f"Bearer {KEY_B}"), CLIENTS)
    assert answer["principalId"] == "team-b"
    assert answer["usageIdentifierKey"] == KEY_B
    assert answer["context"] == {"client": "team-b"}
    (statement,) = answer["policyDocument"]["Statement"]
    assert statement == {
        "Action": "execute-api:Invoke",
        "Effect": "Allow",
        "Resource": "arn:aws:execute-api:eu-west-1:123456789012:abcdef1234/dev/*/*",
    }


@pytest.mark.parametrize(
    "header",
    [
        f"bearer {KEY_A}",
        f"BEARER {KEY_A}",
        f"  Bearer   {KEY_A}  ",
        f"Bearer {KEY_A} ",
    ],
)
def test_the_scheme_is_case_insensitive_and_spaces_are_forgiven(header: str) -> None:
    assert authorize(_event(header), CLIENTS)["principalId"] == "team-a"


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "Bearer",
        "Bearer ",
        KEY_A,  # no scheme
        f"Basic {KEY_A}",
        f"Bearer {KEY_A}x",
        f"Bearer {KEY_A[:-1]}",
        f"Bearer {KEY_A} {KEY_B}",
        12345,
    ],
)
def test_anything_else_is_refused_with_exactly_unauthorized(header: object) -> None:
    with pytest.raises(Refused) as refused:
        authorize(_event(header), CLIENTS)
    assert str(refused.value) == "Unauthorized"  # API Gateway's contract for a 401


@pytest.mark.parametrize(("header", "clients"), [(f"Bearer {KEY_A}", {}), ("Bearer ", {"x": ""})])
def test_an_empty_secret_means_nobody_gets_in(header: str, clients: dict[str, str]) -> None:
    with pytest.raises(Refused):
        authorize(_event(header), clients)


@pytest.mark.parametrize(
    ("arn", "expected"),
    [
        (ARN, "arn:aws:execute-api:eu-west-1:123456789012:abcdef1234/dev/*/*"),
        (
            "arn:aws:execute-api:us-east-1:123456789012:x1y2z3/prod/GET/v1/debates/dbt_1",
            "arn:aws:execute-api:us-east-1:123456789012:x1y2z3/prod/*/*",
        ),
        (
            "arn:aws-cn:execute-api:cn-north-1:123456789012:api1/dev/GET/",
            "arn:aws-cn:execute-api:cn-north-1:123456789012:api1/dev/*/*",
        ),
        (
            "arn:aws:execute-api:eu-west-1:123456789012:abc/v2_beta/DELETE/v1/a/b/c/d",
            "arn:aws:execute-api:eu-west-1:123456789012:abc/v2_beta/*/*",
        ),
        ("arn:aws:execute-api:eu-west-1:123456789012:abc", None),
        ("arn:aws:execute-api:eu-west-1:123456789012:abc/dev", None),
        # a wildcard or a non-ASCII digit must not slip into (and widen) the policy
        ("arn:aws:execute-api:eu-west-1:123456789012:abc/*/GET/", None),
        ("arn:aws:execute-api:eu-west-1:123456789012:abc/d*v/GET/", None),
        ("arn:aws:execute-api:eu-west-1:*:abc/dev/GET/", None),
        ("arn:aws:execute-api:eu-west-1:\u0661\u0662\u0663456789012:abc/dev/GET/", None),
        ("arn:aws:lambda:eu-west-1:123456789012:function:x/dev/GET/", None),
        ("", None),
        (None, None),
    ],
)
def test_stage_resource(arn: object, expected: str | None) -> None:
    assert stage_resource(arn) == expected


def test_a_malformed_event_is_refused_not_crashed() -> None:
    for event in ({}, [], None, {"authorizationToken": f"Bearer {KEY_A}"}):
        with pytest.raises(Refused):
            authorize(event, CLIENTS)


def test_bearer_token() -> None:
    assert bearer_token(f"Bearer {KEY_A}") == KEY_A
    assert bearer_token("Token abc") is None


def test_a_refusal_is_exactly_unauthorized_whatever_the_cause() -> None:
    # Given a bad ARN, a missing key and a wrong key
    causes = [_event(f"Bearer {KEY_A}", "nope"), _event(None), _event("Bearer sk-orch-nope")]
    for event in causes:
        # When each is authorized, Then the same bare exception comes out (no cause chained)
        with pytest.raises(Refused) as refused:
            authorize(event, CLIENTS)
        assert refused.value.args == ("Unauthorized",)
        assert refused.value.__cause__ is None


def test_keys_never_reach_logs_or_errors(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    authorize(_event(f"Bearer {KEY_A}"), CLIENTS)
    errors: list[BaseException] = []
    for header in (f"Bearer {KEY_A}-wrong", f"Bearer {KEY_B}", KEY_A, f"Basic {KEY_B}"):
        with pytest.raises(Refused) as refused:
            authorize(_event(header, "arn:bad" if header.endswith(KEY_B) else ARN), CLIENTS)
        errors.append(refused.value)
    text = caplog.text + "".join(f"{e}{e!r}" for e in errors)
    text += "".join(f"{r.args}{r.__dict__}" for r in caplog.records)
    assert "allowed" in caplog.text and "refused" in caplog.text
    assert KEY_A not in text and KEY_B not in text


def test_unavailable_keys_are_an_error_not_a_refusal() -> None:
    error = KeysUnavailable()
    assert str(error) == "client keys unavailable" and not isinstance(error, Refused)


@given(header=st.one_of(st.none(), st.text(max_size=200), st.integers(), st.binary(max_size=50)))
@settings(max_examples=300, deadline=None)
def test_any_header_is_either_refused_or_a_known_key(header: object) -> None:
    try:
        answer = authorize(_event(header), CLIENTS)
    except Refused:
        return
    assert answer["usageIdentifierKey"] in CLIENTS.values()


@given(arn=st.text(max_size=200))
@settings(max_examples=300, deadline=None)
def test_any_method_arn_gives_a_stage_policy_or_a_refusal(arn: str) -> None:
    try:
        answer = authorize(_event(f"Bearer {KEY_A}", arn), CLIENTS)
    except Refused:
        return
    resource = answer["policyDocument"]["Statement"][0]["Resource"]
    assert resource.startswith("arn:aws") and resource.endswith("/*/*")
