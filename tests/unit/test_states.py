"""The shared States Language pieces: one Lambda task shape and one render for every machine."""

from __future__ import annotations

import json
from typing import Any

import pytest

from orchestra import states
from orchestra.batch import machine as batch_machine
from orchestra.chain import machine as chain_machine
from orchestra.debate import machine as debate_machine


def _tasks(machine: dict[str, Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for state in machine["States"].values():
        if state["Type"] == "Map":
            found += _tasks(state["ItemProcessor"])
        elif state["Type"] == "Task":
            found.append(state)
    return found


def test_a_task_invokes_its_function_with_the_step_and_retries_only_transient_errors() -> None:
    task = states.lambda_task("FnArn", "turn", {"id.$": "$.id"}, "Next", TimeoutSeconds=5)
    assert task["Parameters"] == {
        "FunctionName": "${FnArn}",
        "Payload": {"step": "turn", "id.$": "$.id"},
    }
    assert task["Retry"][0]["ErrorEquals"] == states.LAMBDA_TRANSIENT
    assert "States.ALL" not in task["Retry"][0]["ErrorEquals"]
    assert (task["Next"], task["TimeoutSeconds"]) == ("Next", 5)
    assert "End" not in task


def test_a_task_without_a_next_state_ends_its_branch() -> None:
    task = states.lambda_task("FnArn", "chunk", {}, None)
    assert task["End"] is True and "Next" not in task


@pytest.mark.parametrize(
    ("module", "rendered"),
    [
        (debate_machine, debate_machine.render("arn:fn")),
        (chain_machine, chain_machine.render("arn:fn")),
        (batch_machine, batch_machine.render("arn:fn", "bucket-1")),
    ],
    ids=["debate", "chain", "batch"],
)
def test_every_machine_uses_the_one_task_shape_and_fills_every_placeholder(
    module: Any, rendered: str
) -> None:
    # Given the machine's definition, every Task is exactly the shared lambda task
    for task in _tasks(module.definition()):
        assert task["Retry"] == states.lambda_task("X", "s", {}, None)["Retry"]
        assert task["Parameters"]["FunctionName"] == "${" + module.STEPS_ARN + "}"
    # When rendered, no placeholder is left and the ARN is in every task
    assert "${" not in rendered
    assert all(t["Parameters"]["FunctionName"] == "arn:fn" for t in _tasks(json.loads(rendered)))


def test_render_replaces_each_named_placeholder_only() -> None:
    text = states.render({"a": "${A}", "b": "${B}", "c": "${C}"}, {"A": "1", "B": "2"})
    assert json.loads(text) == {"a": "1", "b": "2", "c": "${C}"}


class Boom(Exception):
    pass


def test_caught_is_what_a_catch_hands_on_and_cause_line_reads_it_back() -> None:
    error = states.caught(Boom("the upstream said no"))
    assert error["Error"] == "Boom"
    assert json.loads(error["Cause"]) == {
        "errorType": "Boom",
        "errorMessage": "the upstream said no",
    }
    assert states.cause_line(error) == "Boom: the upstream said no"
    parts = states.read_caught(error)
    assert parts is not None and parts.lambda_error == json.loads(error["Cause"])


@pytest.mark.parametrize(
    ("error", "line"),
    [
        (
            {"Error": "States.Timeout", "Cause": "the task timed out"},
            "States.Timeout: the task timed out",
        ),
        ({"Error": "States.Timeout"}, "States.Timeout"),
        ({"Error": "X", "Cause": '{"not": "lambda"}'}, 'X: {"not": "lambda"}'),
        ("TIMED_OUT", "TIMED_OUT"),
        (None, "unknown error"),
    ],
)
def test_cause_line_says_any_caught_error_in_one_line(error: Any, line: str) -> None:
    assert states.cause_line(error) == line


def test_cause_line_is_cut_at_its_limit() -> None:
    error = states.caught(Boom("x" * 5_000))
    assert len(states.cause_line(error)) == 2_000
    assert len(states.cause_line(error, 1_000)) == 1_000


def test_a_status_is_not_a_caught_error() -> None:
    assert states.read_caught("ABORTED") is None
    assert states.read_caught({"Error": "E", "Cause": "plain"}).detail is None  # type: ignore[union-attr]
