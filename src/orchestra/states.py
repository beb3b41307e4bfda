"""Amazon States Language pieces the state machines share (debate, chain, batch).

Each machine invokes one steps function per task with ``{"step": <name>, ...}`` and
retries only what the Lambda service itself says is transient. Written once here so
the three definitions cannot drift apart (the retry policy, the ARN placeholder, the
rendering): each machine module keeps its own states and passes its own placeholder.
"""

from __future__ import annotations

import json
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
