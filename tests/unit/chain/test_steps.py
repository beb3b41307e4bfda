"""The steps one at a time, as the state machine calls them (events in, references out)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from orchestra.chain.store import ChainStore
from orchestra.errors import WorkflowFailed
from orchestra.storage.memory import MemoryRecordBackend

from support.chains import ScriptedCompleter, steps_over, stored_run

EVENTS = Path(__file__).resolve().parents[3] / "events" / "chain_steps"
DOC = {
    "steps": [
        {"id": "outline", "kind": "generate", "prompt": "outline"},
        {"id": "expand", "kind": "map", "over": "steps.outline.output",
         "step": {"kind": "generate", "prompt": "{{ item }}"}},
    ],
    "outputs": {"all": "{{ steps.expand.output }}"},
}  # fmt: skip


def _event(name: str, run_id: str) -> dict:
    event = json.loads((EVENTS / f"{name}.json").read_text())
    return {**event, "run_id": run_id}


async def test_the_sample_events_walk_a_chain_step_by_step() -> None:
    store = ChainStore(MemoryRecordBackend())
    steps = steps_over(
        store, ScriptedCompleter(lambda r: "a\nb" if r.messages[-1].content == "outline" else "x")
    )
    run_id = await stored_run(store, DOC)
    first = await steps.run(_event("next", run_id))
    assert first == {"run_id": run_id, "cursor": "steps[0]", "kind": "single", "items": []}
    assert await steps.run(_event("run", run_id)) == {"ok": True}
    fan = await steps.next(run_id, "steps[0]")
    assert fan["kind"] == "fan" and fan["items"] == [0, 1] and fan["cursor"] == "steps[1]"
    assert await steps.run(_event("run_item", run_id)) == {"ok": True}
    await steps.run_step(run_id, "steps[1]", 1)
    assert await steps.run(_event("join", run_id)) == {"ok": True}
    assert (await steps.next(run_id, "steps[1]"))["kind"] == "done"
    assert await steps.run(_event("finish", run_id)) == {"status": "succeeded"}
    run = await store.load(run_id)
    assert run.outcome.outputs == {"all": ["x", "x"]}


async def test_fail_records_the_lambda_error_as_one_line() -> None:
    store = ChainStore(MemoryRecordBackend())
    run_id = await stored_run(store, DOC)
    await steps_over(store, ScriptedCompleter()).run(_event("fail", run_id))
    outcome = (await store.load(run_id)).outcome
    assert outcome.status == "failed"
    # the Lambda's message alone: never its errorType (a Python class name)
    assert outcome.error == "steps[0] (outline): upstream down"
    assert outcome.code == "chain_failed"  # no step of this run recorded a code


async def test_a_failed_item_is_recorded_and_the_join_fails_the_map() -> None:
    store = ChainStore(MemoryRecordBackend())
    answers = ScriptedCompleter(lambda r: "a\nb" if r.messages[-1].content == "outline" else "FAIL")
    steps = steps_over(store, answers)
    run_id = await stored_run(store, DOC)
    await steps.run_step(run_id, "steps[0]")
    assert await steps.run_step(run_id, "steps[1]", 0) == {"ok": False}
    item = (await store.load(run_id)).steps["steps[1].items[0]"]
    assert item.status == "failed" and item.error == "upstream down"
    assert item.error_code == "upstream_server_error"
    with pytest.raises(WorkflowFailed, match="expand"):
        await steps.join(run_id, "steps[1]")


async def test_an_unknown_step_is_refused() -> None:
    steps = steps_over(ChainStore(MemoryRecordBackend()), ScriptedCompleter())
    with pytest.raises(WorkflowFailed, match="unknown chain step"):
        await steps.run({"step": "dance", "run_id": "x"})
