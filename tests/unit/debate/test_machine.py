"""The debate state machine definition: well-formed, references only, one ARN placeholder."""

from __future__ import annotations

import json
from typing import Any

from orchestra.debate.machine import STEPS, STEPS_ARN, definition, render


def _states(machine: dict[str, Any]) -> dict[str, dict[str, Any]]:
    states = dict(machine["States"])
    for state in machine["States"].values():
        if state["Type"] == "Map":
            states.update(state["ItemProcessor"]["States"])
    return states


def test_every_transition_lands_on_a_state() -> None:
    machine = definition()
    top = set(machine["States"])
    assert machine["StartAt"] in top
    for name, state in machine["States"].items():
        targets = [state.get("Next"), state.get("Default")]
        targets += [c["Next"] for c in state.get("Choices", [])]
        targets += [c["Next"] for c in state.get("Catch", [])]
        for target in filter(None, targets):
            assert target in top, (name, target)
        assert (
            state["Type"] in ("Succeed", "Fail")
            or "Next" in state
            or state.get("End")
            or state["Type"] == "Choice"
        )


def test_every_task_invokes_the_steps_function_with_a_step_name() -> None:
    tasks = [s for s in _states(definition()).values() if s["Type"] == "Task"]
    assert {t["Parameters"]["Payload"]["step"] for t in tasks} == set(STEPS)
    assert set(STEPS) == {"init", "turn", "converge", "synthesize", "finalize", "fail"}
    for task in tasks:
        assert task["Parameters"]["FunctionName"] == "${" + STEPS_ARN + "}"
        assert task["Retry"][0]["ErrorEquals"][0].startswith("Lambda.")


def test_failures_are_recorded_before_the_execution_fails() -> None:
    states = definition()["States"]
    for name in ("Init", "Round", "Converge", "Synthesize", "Finalize"):
        assert states[name]["Catch"][0]["Next"] == "RecordFailure"
    assert states["RecordFailure"]["Next"] == "Failed"
    assert states["Failed"]["Type"] == "Fail"


def test_payloads_carry_references_not_transcripts() -> None:
    text = json.dumps(definition())
    for word in ("transcript", "content", "messages"):
        assert word not in text


def test_render_fills_the_function_arn() -> None:
    arn = "arn:aws:lambda:eu-west-1:123456789012:function:steps"
    rendered = render(arn, turn_timeout_s=30)
    assert "${" not in rendered
    turn = json.loads(rendered)["States"]["Round"]["ItemProcessor"]["States"]["Turn"]
    assert turn["Parameters"]["FunctionName"] == arn
    assert turn["TimeoutSeconds"] == 30


def test_readable_states_in_order() -> None:
    machine = definition()
    assert machine["StartAt"] == "Init"
    assert list(machine["States"]) == [
        "Init", "Round", "Converge", "Decide", "NextRound", "Synthesize", "Finalize", "Done",
        "RecordFailure", "Failed",
    ]  # fmt: skip
    assert machine["States"]["Synthesize"]["Next"] == "Finalize"


def test_a_failed_turn_drops_the_participant_not_the_debate() -> None:
    inner = definition()["States"]["Round"]["ItemProcessor"]["States"]
    (catch,) = inner["Turn"]["Catch"]
    assert catch["ErrorEquals"] == ["States.ALL"] and catch["Next"] == "TurnFailed"
    assert inner["TurnFailed"] == {"Type": "Pass", "Result": {"ok": False}, "End": True}
    # the next round walks the survivors the converge step reported
    next_round = definition()["States"]["NextRound"]["Parameters"]
    assert next_round["participants.$"] == "$.convergence.participants"


def test_a_failed_turn_is_caught_inside_the_round_and_marks_that_participant_only() -> None:
    states = _states(definition(turn_timeout_s=90))
    turn = states["Turn"]
    assert turn["TimeoutSeconds"] == 90
    assert turn["ResultSelector"] == {"ok.$": "$.Payload.ok"}
    assert turn["Catch"] == [
        {"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "TurnFailed"}
    ]
    assert states["TurnFailed"] == {"Type": "Pass", "Result": {"ok": False}, "End": True}
