"""Amazon States Language pieces the state machines share (debate, chain, batch).

Each machine invokes one steps function per task with ``{"step": <name>, ...}`` and
retries only what the Lambda service itself says is transient. Written once here so
the three definitions cannot drift apart (the retry policy, the ARN placeholder, the
rendering): each machine module keeps its own states and passes its own placeholder.
The error a Catch hands on (``{"Error", "Cause"}``) is made (:func:`caught`, for the
local runners) and read (:func:`read_caught`, :func:`cause_line`) here too, so the
runners and the machines hand the steps' ``fail`` the same thing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

#: errors the Lambda service raises that a retry usually cures
LAMBDA_TRANSIENT = [
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
]


def placeholder(name: str) -> str:
    """``${name}``: what CDK's ``definition_substitutions`` (or :func:`render`) fills."""
    return "${" + name + "}"


def lambda_task(
    function: str, step: str, payload: dict[str, Any], nxt: str | None, **extra: Any
) -> dict[str, Any]:
    """A ``lambda:invoke`` Task of ``step`` on the function placeholder ``function``.

    It retries the Lambda service's transient errors (3 attempts, jittered backoff);
    ``nxt`` None makes it an end state (a Map iteration's last). ``extra`` adds the
    state's own fields (TimeoutSeconds, ResultSelector, Catch ...) after the Retry.
    """
    state: dict[str, Any] = {
        "Type": "Task",
        "Resource": "arn:aws:states:::lambda:invoke",
        "Parameters": {
            "FunctionName": placeholder(function),
            "Payload": {"step": step, **payload},
        },
        "Retry": [
            {
                "ErrorEquals": LAMBDA_TRANSIENT,
                "IntervalSeconds": 2,
                "MaxAttempts": 3,
                "BackoffRate": 2.0,
                "JitterStrategy": "FULL",
            }
        ],
        **extra,
    }
    if nxt is None:
        state["End"] = True
    else:
        state["Next"] = nxt
    return state


def render(definition: dict[str, Any], substitutions: dict[str, str]) -> str:
    """``definition`` as JSON with each ``${placeholder}`` replaced by its value."""
    text = json.dumps(definition)
    for name, value in substitutions.items():
        text = text.replace(placeholder(name), value)
    return text


def caught(exc: BaseException) -> dict[str, str]:
    """An exception as Step Functions hands it to a Catch: ``{"Error", "Cause"}``, the
    Cause being the Lambda's ``{"errorType", "errorMessage"}`` JSON (the local runners'
    stand-in for the state machine's Catch)."""
    cause = {"errorType": type(exc).__name__, "errorMessage": str(exc)}
    return {"Error": type(exc).__name__, "Cause": json.dumps(cause)}


@dataclass(frozen=True, slots=True)
class Caught:
    """A Catch's ``{"Error", "Cause"}`` taken apart: ``detail`` is the Cause parsed as
    JSON (None when it is not JSON text)."""

    error: Any
    cause: Any
    detail: Any

    @property
    def lambda_error(self) -> dict[str, Any] | None:
        """The Lambda's ``{"errorType", "errorMessage"}`` when the Cause is one."""
        if isinstance(self.detail, dict) and "errorMessage" in self.detail:
            return self.detail
        return None


def read_caught(error: Any) -> Caught | None:
    """``error`` as a :class:`Caught`, or None when it is not a Catch's dict (a status)."""
    if not isinstance(error, dict):
        return None
    raw = error.get("Cause")
    try:
        detail = json.loads(raw) if isinstance(raw, str) else None
    except ValueError:
        detail = None
    return Caught(error.get("Error"), raw, detail)


def cause_line(error: Any, limit: int = 2_000) -> str:
    """A caught error as one short line, ``"<errorType>: <errorMessage>"`` (the Lambda's
    when the Cause is one, else the Error and the Cause as given), at most ``limit``."""
    parts = read_caught(error)
    if parts is None:
        return str(error or "unknown error")[:limit]
    kind, cause = parts.error, parts.cause
    if (raised := parts.lambda_error) is not None:
        kind, cause = raised.get("errorType") or kind, raised["errorMessage"]
    return (f"{kind}: {cause}" if kind and cause else str(cause or kind or error))[:limit]
