"""A step's or a run's failure in plain words: never a Python class name or a traceback."""

from __future__ import annotations

import json

import pytest

from orchestra.chain.failures import cause, failure
from orchestra.errors import UnknownModel


def test_a_typed_error_is_its_message_and_its_code() -> None:
    assert failure(UnknownModel("The model 'x' does not exist")) == (
        "The model 'x' does not exist",
        "model_not_found",
    )


def test_an_unexpected_error_keeps_its_text_not_its_class() -> None:
    message, code = failure(KeyError("draft"))
    assert message == "the step failed unexpectedly: 'draft'" and code == "internal_error"
    assert "KeyError" not in message


@pytest.mark.parametrize(
    ("error", "says"),
    [
        ({"Error": "WorkflowFailed",
          "Cause": json.dumps({"errorType": "WorkflowFailed", "errorMessage": "steps[1] (b): no"})},
         "steps[1] (b): no"),
        ({"Error": "States.Timeout", "Cause": ""}, "a step took longer than its timeout"),
        ({"Error": "States.TaskFailed", "Cause": "the function crashed"}, "the function crashed"),
        ({"Error": "KeyError"}, "the run failed"),
        ("TIMED_OUT", "the run took longer than the state machine allows"),
        (None, "the run failed"),
    ],
)  # fmt: skip
def test_a_caught_error_is_one_clean_line(error: object, says: str) -> None:
    assert cause(error) == says
