"""The debate state machine, defined once: CDK deploys it, the tests execute it under moto.

A Standard execution carries references, never transcripts (every turn is written to the
debates table by its task), so its payload stays a few hundred bytes whatever the debate
length. Input: ``{"debate_id", "participants": [model ids], "round": 1, "max_rounds"}``.

    Round (Map over participants: one ``turn`` task each)
      -> Converge (``converge`` task: {"stop": bool, ...})
      -> Decide (Choice: stop -> Synthesize, else NextRound -> Round)
    Synthesize -> Done;  any failure -> RecordFailure -> Failed

Every task invokes the one ``debate_steps`` function with ``{"step": <name>, ...}``; the
function ARN is a ``${DebateStepsFunctionArn}`` placeholder filled by :func:`render` (tests)
or by CDK's ``definition_substitutions``.
"""

from __future__ import annotations

import json
from typing import Any

STEPS_ARN = "DebateStepsFunctionArn"
STEP_TURN, STEP_CONVERGE, STEP_SYNTHESIZE, STEP_FAIL = "turn", "converge", "synthesize", "fail"
#: errors the Lambda service raises that a retry usually cures
LAMBDA_TRANSIENT = [
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
]
_CATCH_ALL = [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "RecordFailure"}]


def _task(step: str, payload: dict[str, str], nxt: str | None, **extra: Any) -> dict[str, Any]:
    state: dict[str, Any] = {
        "Type": "Task",
        "Resource": "arn:aws:states:::lambda:invoke",
        "Parameters": {
            "FunctionName": "${" + STEPS_ARN + "}",
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


def definition(*, turn_timeout_s: int = 120, max_concurrency: int = 8) -> dict[str, Any]:
    """The Amazon States Language definition (with the function ARN placeholder)."""
    ref = {"debate_id.$": "$.debate_id", "round.$": "$.round"}
    turn = _task(STEP_TURN, {**ref, "participant.$": "$.participant"}, None)
    turn["TimeoutSeconds"] = turn_timeout_s
    return {
        "Comment": "Orchestra debate: rounds of turns until the models converge, then a synthesis",
        "StartAt": "Round",
        "States": {
            "Round": {
                "Type": "Map",
                "ItemsPath": "$.participants",
                "ItemSelector": {**ref, "participant.$": "$$.Map.Item.Value"},
                "MaxConcurrency": max_concurrency,
                "ItemProcessor": {
                    "ProcessorConfig": {"Mode": "INLINE"},
                    "StartAt": "Turn",
                    "States": {"Turn": turn},
                },
                "ResultPath": None,
                "Next": "Converge",
                "Catch": _CATCH_ALL,
            },
            "Converge": _task(
                STEP_CONVERGE,
                {**ref, "max_rounds.$": "$.max_rounds"},
                "Decide",
                ResultSelector={"stop.$": "$.Payload.stop", "agreement.$": "$.Payload.agreement"},
                ResultPath="$.convergence",
                Catch=_CATCH_ALL,
            ),
            "Decide": {
                "Type": "Choice",
                "Choices": [
                    {"Variable": "$.convergence.stop", "BooleanEquals": True, "Next": "Synthesize"}
                ],
                "Default": "NextRound",
            },
            "NextRound": {
                "Type": "Pass",
                "Parameters": {
                    "debate_id.$": "$.debate_id",
                    "participants.$": "$.participants",
                    "max_rounds.$": "$.max_rounds",
                    "round.$": "States.MathAdd($.round, 1)",
                },
                "Next": "Round",
            },
            "Synthesize": _task(
                STEP_SYNTHESIZE, {"debate_id.$": "$.debate_id"}, "Done", Catch=_CATCH_ALL
            ),
            "Done": {"Type": "Succeed"},
            "RecordFailure": _task(
                STEP_FAIL,
                {"debate_id.$": "$.debate_id", "error.$": "$.error"},
                "Failed",
                ResultPath=None,
            ),
            "Failed": {"Type": "Fail", "Error": "DebateFailed", "Cause": "see the debate record"},
        },
    }


def render(function_arn: str, **options: Any) -> str:
    """The definition as JSON with the steps function's ARN filled in (moto, local tools)."""
    text = json.dumps(definition(**options))
    return text.replace("${" + STEPS_ARN + "}", function_arn)
