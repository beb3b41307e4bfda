"""The generic chain machine's shape: references only, one task per step kind, catches."""

from __future__ import annotations

import json

from orchestra.chain.machine import STEPS_ARN, definition, render


def test_the_machine_loops_next_run_fan_join_and_ends_in_finish_or_fail() -> None:
    states = definition()["States"]
    assert definition()["StartAt"] == "Begin" and states["Begin"]["Next"] == "Next"
    route = states["Route"]
    assert {c["StringEquals"]: c["Next"] for c in route["Choices"]} == {
        "single": "Run",
        "fan": "Fan",
    }
    assert route["Default"] == "Finish"
    assert states["Run"]["Next"] == states["Join"]["Next"] == "Next"
    assert states["Fan"]["Next"] == "Join" and states["Finish"]["Next"] == "Done"
    for name in ("Next", "Run", "Fan", "Join", "Finish"):
        assert states[name]["Catch"][0]["Next"] == "RecordFailure"
    assert states["RecordFailure"]["Next"] == "Failed" and states["Failed"]["Type"] == "Fail"


def test_the_fan_is_an_inline_map_over_indices_with_the_concurrency_bound() -> None:
    fan = definition(max_concurrency=5, step_timeout_s=77)["States"]["Fan"]
    assert fan["ItemProcessor"]["ProcessorConfig"] == {"Mode": "INLINE"}
    assert fan["ItemsPath"] == "$.items" and fan["MaxConcurrency"] == 5
    assert fan["ItemSelector"]["item.$"] == "$$.Map.Item.Value"
    item = fan["ItemProcessor"]["States"]["RunItem"]
    assert item["Parameters"]["Payload"]["step"] == "run" and item["TimeoutSeconds"] == 77


def test_payloads_carry_references_only_and_render_fills_the_arn() -> None:
    text = json.dumps(definition())
    for state in definition()["States"].values():
        payload = state.get("Parameters", {}).get("Payload", {})
        assert set(payload) <= {"step", "run_id.$", "cursor.$", "item.$", "error.$"}
    assert "${" + STEPS_ARN + "}" in text
    rendered = render("arn:aws:lambda:us-east-1:1:function:chain-steps")
    assert "${" not in rendered and "function:chain-steps" in rendered
