"""The generic chain state machine, defined once: CDK deploys it, the tests execute it.

One machine runs every chain: it never sees a chain's steps, only references. Input:
``{"run_id"}``; the execution is named after the run id. The ``next`` task reads the
stored chain and the results so far and says what comes after ``cursor`` (a step path,
``""`` at the start):

    Begin (cursor "") -> Next (``next``: {"run_id", "cursor", "kind", "items"})
      -> Route (Choice on kind)
           single -> Run (``run``: that step, its result written) -> Next
           fan    -> Fan (Map, INLINE, over ``items``: one ``run`` with {"item": i} per
                     parallel branch or map item) -> Join (``join``: combine) -> Next
           done   -> Finish (``finish``: the outputs) -> Done
    any failure -> RecordFailure (``fail``) -> Failed

So a run's payloads stay a few hundred bytes however long the outputs (they are in the
workflows table), and each step shows in the console as its own task with its path.
A condition is a ``single`` step recording its branch; ``next`` then walks into it.
"""

from __future__ import annotations

from typing import Any

from orchestra import states
from orchestra.states import lambda_task

#: the placeholder CDK's ``definition_substitutions`` fills with the chain steps function
STEPS_ARN = "ChainStepsFunctionArn"
STEP_NEXT, STEP_RUN, STEP_JOIN, STEP_FINISH, STEP_FAIL = "next", "run", "join", "finish", "fail"
STEPS = (STEP_NEXT, STEP_RUN, STEP_JOIN, STEP_FINISH, STEP_FAIL)
KIND_SINGLE, KIND_FAN, KIND_DONE = "single", "fan", "done"
_REF = {"run_id.$": "$.run_id", "cursor.$": "$.cursor"}
_CATCH_ALL = [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "RecordFailure"}]


def _task(step: str, payload: dict[str, Any], nxt: str | None, **extra: Any) -> dict[str, Any]:
    return lambda_task(STEPS_ARN, step, payload, nxt, **extra)


def _fan(step_timeout_s: int, max_concurrency: int) -> dict[str, Any]:
    """One ``run`` per branch or item; a failed one records itself, and ``join`` decides."""
    item = _task(STEP_RUN, {**_REF, "item.$": "$.item"}, None)
    item["TimeoutSeconds"] = step_timeout_s
    item["ResultSelector"] = {"ok.$": "$.Payload.ok"}
    return {
        "Type": "Map",
        "ItemsPath": "$.items",
        "ItemSelector": {**_REF, "item.$": "$$.Map.Item.Value"},
        "MaxConcurrency": max_concurrency,
        "ItemProcessor": {
            "ProcessorConfig": {"Mode": "INLINE"},
            "StartAt": "RunItem",
            "States": {"RunItem": item},
        },
        "ResultPath": None,
        "Next": "Join",
        "Catch": _CATCH_ALL,
    }


def definition(*, step_timeout_s: int = 300, max_concurrency: int = 16) -> dict[str, Any]:
    """The Amazon States Language definition (with the function ARN placeholder)."""
    selector = {
        "run_id.$": "$.Payload.run_id",
        "cursor.$": "$.Payload.cursor",
        "kind.$": "$.Payload.kind",
        "items.$": "$.Payload.items",
    }
    return {
        "Comment": "Orchestra chain: the stored chain's steps, one task (or Map) at a time",
        "StartAt": "Begin",
        "States": {
            "Begin": {
                "Type": "Pass",
                "Parameters": {"run_id.$": "$.run_id", "cursor": ""},
                "Next": "Next",
            },
            "Next": _task(
                STEP_NEXT, _REF, "Route", ResultSelector=selector, ResultPath="$", Catch=_CATCH_ALL
            ),
            "Route": {
                "Type": "Choice",
                "Choices": [
                    {"Variable": "$.kind", "StringEquals": KIND_SINGLE, "Next": "Run"},
                    {"Variable": "$.kind", "StringEquals": KIND_FAN, "Next": "Fan"},
                ],
                "Default": "Finish",
            },
            "Run": _task(
                STEP_RUN,
                _REF,
                "Next",
                TimeoutSeconds=step_timeout_s,
                ResultPath=None,
                Catch=_CATCH_ALL,
            ),
            "Fan": _fan(step_timeout_s, max_concurrency),
            "Join": _task(
                STEP_JOIN,
                _REF,
                "Next",
                TimeoutSeconds=step_timeout_s,
                ResultPath=None,
                Catch=_CATCH_ALL,
            ),
            "Finish": _task(
                STEP_FINISH, {"run_id.$": "$.run_id"}, "Done", ResultPath=None, Catch=_CATCH_ALL
            ),
            "Done": {"Type": "Succeed"},
            "RecordFailure": _task(
                STEP_FAIL, {"run_id.$": "$.run_id", "error.$": "$.error"}, "Failed", ResultPath=None
            ),
            "Failed": {"Type": "Fail", "Error": "ChainFailed", "Cause": "see the chain run record"},
        },
    }


def render(function_arn: str, **options: Any) -> str:
    """The definition as JSON with the steps function's ARN filled in (moto, local tools)."""
    return states.render(definition(**options), {STEPS_ARN: function_arn})
