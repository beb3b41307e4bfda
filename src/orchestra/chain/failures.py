"""Why a step or a run failed, as a user reads it: a plain message and an error code.

A step's error is the typed error's own message (its ``code`` stored beside it), so a run
view never shows a Python class name or a traceback. The run's error comes from the
state machine's Catch (``{"Error", "Cause"}``, the Cause being the Lambda's JSON error):
its message alone, never its ``errorType``; when Step Functions itself stopped the run
(a timeout, an abort), a sentence saying so.
"""

from __future__ import annotations

from typing import Any

from orchestra.errors import OrchestraError
from orchestra.states import read_caught

MAX_CHARS = 2_000
#: the run's code when no step recorded one (the error came from the walk itself)
RUN_FAILED = "chain_failed"
#: Step Functions' own errors and statuses, said plainly
STOPPED = {
    "States.Timeout": "a step took longer than its timeout",
    "States.HeartbeatTimeout": "a step stopped answering",
    "States.TaskFailed": "a step's function failed",
    "States.Runtime": "the state machine could not go on",
    "States.DataLimitExceeded": "a step's result was too large for the state machine",
    "TIMED_OUT": "the run took longer than the state machine allows",
    "ABORTED": "the run was stopped (its execution was aborted)",
    "FAILED": "the run's execution failed",
}


def failure(exc: BaseException) -> tuple[str, str]:
    """A step's exception as (message, code): a typed error as itself; anything else as
    an internal error whose text is kept (without the class name)."""
    if isinstance(exc, OrchestraError):
        return exc.message[:MAX_CHARS], exc.code
    text = str(exc).strip() or "an unexpected error"
    return f"the step failed unexpectedly: {text}"[:MAX_CHARS], "internal_error"


def cause(error: Any) -> str:
    """Step Functions' caught error (or a status) as one clean line."""
    parts = read_caught(error)
    if parts is None:
        text = str(error or "").strip()
        return STOPPED.get(text, text or "the run failed")[:MAX_CHARS]
    raised = parts.lambda_error
    if raised is not None and raised.get("errorMessage"):
        return str(raised["errorMessage"])[:MAX_CHARS]
    raw = parts.cause
    if isinstance(raw, str) and raw.strip() and parts.detail is None:
        return raw.strip()[:MAX_CHARS]
    stopped = STOPPED.get(str(parts.error), "")
    return (stopped or "the run failed")[:MAX_CHARS]
