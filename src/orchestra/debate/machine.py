"""The debate state machine, defined once: CDK deploys it, the tests execute it under moto.

A Standard execution carries references, never transcripts (every turn is written to the
debates table by its task), so its payload stays a few hundred bytes whatever the debate
length. Input: ``{"debate_id"}``; the execution is named after the debate id.

    Init (``init``: participants, max_rounds)
    Round (Map over the participants: one ``turn`` task each; a turn whose Lambda fails
           after its retries is caught per iteration, and that participant drops out)
      -> Converge (``converge``: {"stop", "agreement", "participants": survivors})
      -> Decide (Choice: stop -> Synthesize, else NextRound -> Round)
    Synthesize -> Finalize -> Done;  any other failure -> RecordFailure -> Failed

Every task invokes the one ``debate_steps`` function with ``{"step": <name>, ...}``; the
function ARN is a ``${DebateStepsFunctionArn}`` placeholder filled by :func:`render` (tests)
or by CDK's ``definition_substitutions``.
"""

from __future__ import annotations

from typing import Any

from orchestra import states
from orchestra.states import lambda_task

STEPS_ARN = "DebateStepsFunctionArn"
STEP_INIT, STEP_TURN, STEP_CONVERGE = "init", "turn", "converge"
STEP_SYNTHESIZE, STEP_FINALIZE, STEP_FAIL = "synthesize", "finalize", "fail"
STEPS = (STEP_INIT, STEP_TURN, STEP_CONVERGE, STEP_SYNTHESIZE, STEP_FINALIZE, STEP_FAIL)
_CATCH_ALL = [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "RecordFailure"}]


def _task(step: str, payload: dict[str, str], nxt: str | None, **extra: Any) -> dict[str, Any]:
    return lambda_task(STEPS_ARN, step, payload, nxt, **extra)


def _round(turn_timeout_s: int, max_concurrency: int) -> dict[str, Any]:
    ref = {"debate_id.$": "$.debate_id", "round.$": "$.round"}
    turn = _task(STEP_TURN, {**ref, "participant.$": "$.participant"}, None)
    turn["TimeoutSeconds"] = turn_timeout_s
    turn["ResultSelector"] = {"ok.$": "$.Payload.ok"}
    # a turn that still fails after its retries drops that participant, not the debate
    turn["Catch"] = [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "TurnFailed"}]
    return {
        "Type": "Map",
        "ItemsPath": "$.participants",
        "ItemSelector": {**ref, "participant.$": "$$.Map.Item.Value"},
        "MaxConcurrency": max_concurrency,
        "ItemProcessor": {
            "ProcessorConfig": {"Mode": "INLINE"},
            "StartAt": "Turn",
            "States": {
                "Turn": turn,
                "TurnFailed": {"Type": "Pass", "Result": {"ok": False}, "End": True},
            },
        },
        "ResultPath": None,
        "Next": "Converge",
        "Catch": _CATCH_ALL,
    }


def definition(*, turn_timeout_s: int = 120, max_concurrency: int = 8) -> dict[str, Any]:
    """The Amazon States Language definition (with the function ARN placeholder)."""
    ref = {"debate_id.$": "$.debate_id", "round.$": "$.round"}
    return {
        "Comment": "Orchestra debate: rounds of turns until the models converge, then a synthesis",
        "StartAt": "Init",
        "States": {
            "Init": _task(
                STEP_INIT,
                {"debate_id.$": "$.debate_id"},
                "Round",
                ResultSelector={
                    "debate_id.$": "$.Payload.debate_id",
                    "participants.$": "$.Payload.participants",
                    "max_rounds.$": "$.Payload.max_rounds",
                    "round": 1,
                },
                ResultPath="$",
                Catch=_CATCH_ALL,
            ),
            "Round": _round(turn_timeout_s, max_concurrency),
            "Converge": _task(
                STEP_CONVERGE,
                ref,
                "Decide",
                ResultSelector={
                    "stop.$": "$.Payload.stop",
                    "agreement.$": "$.Payload.agreement",
                    "participants.$": "$.Payload.participants",
                },
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
                    "participants.$": "$.convergence.participants",
                    "max_rounds.$": "$.max_rounds",
                    "round.$": "States.MathAdd($.round, 1)",
                },
                "Next": "Round",
            },
            "Synthesize": _task(
                STEP_SYNTHESIZE,
                {"debate_id.$": "$.debate_id"},
                "Finalize",
                ResultPath=None,
                Catch=_CATCH_ALL,
            ),
            "Finalize": _task(
                STEP_FINALIZE,
                {"debate_id.$": "$.debate_id"},
                "Done",
                ResultPath=None,
                Catch=_CATCH_ALL,
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
    return states.render(definition(**options), {STEPS_ARN: function_arn})
