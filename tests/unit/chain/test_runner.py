"""The local runner walks next / run / fan+join / finish: each step kind, end to end."""

from __future__ import annotations

from typing import Any

from orchestra.chain.runner import LocalRunner
from orchestra.chain.store import ChainStore
from orchestra.schemas.chain import ChainStep
from orchestra.schemas.chat import ChatRequest
from orchestra.storage.memory import MemoryRecordBackend

from support.chains import ScriptedCompleter, steps_over, stored_run


async def _run(
    document: dict[str, Any], answer: Any = None, **inputs: Any
) -> tuple[Any, ScriptedCompleter, list[ChainStep]]:
    store = ChainStore(MemoryRecordBackend())
    completer = ScriptedCompleter(answer)
    run_id = await stored_run(store, document, inputs)
    seen: list[ChainStep] = []

    async def hook(step: ChainStep) -> None:
        seen.append(step)

    status = await LocalRunner(steps_over(store, completer)).execute(run_id, on_step=hook)
    run = await store.load(run_id)
    assert run.outcome is not None and run.outcome.status == status
    return run, completer, seen


async def test_sequential_steps_feed_each_other_and_fill_the_outputs() -> None:
    doc = {
        "inputs": {"topic": {"type": "string"}},
        "steps": [
            {"id": "outline", "kind": "generate", "prompt": "Outline {{ inputs.topic }}"},
            {"id": "draft", "kind": "generate", "prompt": "Draft from {{ steps.outline.output }}"},
        ],
        "outputs": {"brief": "{{ steps.draft.output }}"},
    }
    run, completer, seen = await _run(doc, topic="tides")
    assert [r.messages[-1].content for r in completer.seen] == [
        "Outline tides",
        "Draft from echo: Outline tides",
    ]
    assert run.outcome.outputs == {"brief": "echo: Draft from echo: Outline tides"}
    assert [s.path for s in seen] == ["steps[0]", "steps[1]"]
    assert seen[0].model == "up/a" and seen[0].cost_usd == 2e-5 and seen[0].latency_ms == 1.5


async def test_output_schema_asks_for_json_and_parses_the_answer() -> None:
    doc = {"steps": [{"id": "facts", "kind": "generate", "prompt": "facts",
                      "output_schema": {"type": "object"}}],
           "outputs": {"n": "{{ steps.facts.output.n }}"}}  # fmt: skip
    run, completer, _ = await _run(doc, lambda r: '```json\n{"n": 3}\n```')
    assert completer.seen[0].response_format["type"] == "json_schema"
    assert run.steps["steps[0]"].output == {"n": 3}
    assert run.outcome.outputs == {"n": 3}


async def test_parallel_branches_are_combined_by_a_template() -> None:
    doc = {
        "steps": [
            {"id": "drafts", "kind": "parallel",
             "branches": [{"id": "a", "kind": "generate", "model": "up/a", "prompt": "A"},
                          {"id": "b", "kind": "generate", "model": "up/b", "prompt": "B"}],
             "combine": {"template": "{{ steps.a.output }} + {{ steps.b.output }}"}},
        ],
        "outputs": {"both": "{{ steps.drafts.output }}"},
    }  # fmt: skip
    run, _, seen = await _run(doc)
    assert run.outcome.outputs == {"both": "echo: A + echo: B"}
    assert [s.path for s in seen] == ["steps[0]", "steps[0].branches[0]", "steps[0].branches[1]"]


async def test_a_failed_branch_is_left_out_of_a_vote() -> None:
    doc = {"steps": [{"id": "p", "kind": "parallel", "combine": {"strategy": "vote"},
                      "branches": [{"id": "a", "kind": "generate", "model": "up/a", "prompt": "x"},
                                   {"id": "b", "kind": "generate", "model": "up/b", "prompt": "y"}]}]}  # fmt: skip
    run, _, _ = await _run(doc, lambda r: "FAIL" if r.model == "up/a" else "42")
    assert run.outcome.status == "succeeded"
    assert run.steps["steps[0].branches[0]"].status == "failed"
    assert run.steps["steps[0]"].output == "42" and run.steps["steps[0]"].model == "up/b"


def _condition(when: dict[str, Any]) -> dict[str, Any]:
    return {
        "inputs": {"text": {"type": "string"}},
        "steps": [
            {"id": "check", "kind": "condition", "value": "{{ inputs.text }}", "when": when,
             "then": [{"id": "yes", "kind": "generate", "prompt": "yes"}],
             "else": [{"id": "no", "kind": "generate", "prompt": "no"}]},
            {"id": "after", "kind": "generate", "prompt": "after {{ steps.check.output }}"},
        ],
    }  # fmt: skip


async def test_a_condition_walks_into_the_branch_it_chose_then_goes_on() -> None:
    run, _, seen = await _run(_condition({"contains": "urgent"}), text="this is urgent")
    assert [s.path for s in seen] == ["steps[0]", "steps[0].then[0]", "steps[1]"]
    assert run.steps["steps[0]"].branch == "then"
    # and a reference to the condition is the output of the last step of its list
    assert run.steps["steps[1]"].input == "after echo: yes"
    run, _, seen = await _run(_condition({"regex": "^calm"}), text="urgent")
    assert [s.path for s in seen] == ["steps[0]", "steps[0].else[0]", "steps[1]"]


async def test_a_classify_condition_asks_the_model_for_a_label() -> None:
    when = {"classify": {"prompt": "Is it urgent?", "labels": ["yes", "no"], "equals": "yes"}}
    run, completer, _ = await _run(
        _condition(when),
        lambda r: "Yes" if "labels" in str(r.messages[0].content) else "ok",
        text="fire!",
    )
    assert run.steps["steps[0]"].branch == "then" and run.steps["steps[0]"].label == "yes"
    assert "fire!" in completer.seen[0].messages[-1].content


async def test_json_path_condition() -> None:
    run, _, _ = await _run(_condition({"json_path": "$.level", "equals": 3}), text='{"level": 3}')
    assert run.steps["steps[0]"].branch == "then"


async def test_a_map_runs_its_step_per_line_and_lists_the_outputs() -> None:
    doc = {
        "steps": [
            {"id": "outline", "kind": "generate", "prompt": "outline"},
            {"id": "expand", "kind": "map", "over": "steps.outline.output", "concurrency": 2,
             "step": {"kind": "generate", "prompt": "{{ index }}: {{ item }}"}},
        ],
        "outputs": {"all": "{{ steps.expand.output }}"},
    }  # fmt: skip
    run, _, _ = await _run(
        doc,
        lambda r: (
            "one\n\ntwo\nthree"
            if r.messages[-1].content == "outline"
            else r.messages[-1].content.upper()
        ),
    )
    assert run.outcome.outputs == {"all": ["0: ONE", "1: TWO", "2: THREE"]}
    assert run.steps["steps[1].items[2]"].input == "2: three"


async def test_a_map_beyond_max_items_fails_the_run_before_any_item() -> None:
    doc = {"steps": [{"id": "outline", "kind": "generate", "prompt": "outline"},
                     {"id": "expand", "kind": "map", "over": "steps.outline.output", "max_items": 2,
                      "step": {"kind": "generate", "prompt": "{{ item }}"}}]}  # fmt: skip
    run, completer, _ = await _run(doc, lambda r: "a\nb\nc")
    assert run.outcome.status == "failed" and "max_items 2" in (run.outcome.error or "")
    assert run.steps["steps[1]"].status == "failed" and len(completer.seen) == 1


async def test_a_conversation_thread_carries_its_messages() -> None:
    doc = {"steps": [
        {"id": "ask", "kind": "conversation", "thread": "t", "system": "Be brief.", "prompt": "Q1"},
        {"id": "other", "kind": "generate", "prompt": "aside"},
        {"id": "ask2", "kind": "conversation", "thread": "t", "prompt": "Q2"},
    ]}  # fmt: skip
    _, completer, _ = await _run(doc)
    last: ChatRequest = completer.seen[-1]
    assert [(m.role, m.content) for m in last.messages] == [
        ("system", "Be brief."), ("user", "Q1"), ("assistant", "echo: Q1"), ("user", "Q2"),
    ]  # fmt: skip


async def test_a_failed_step_fails_the_run_with_its_path_and_error() -> None:
    doc = {"steps": [{"id": "a", "kind": "generate", "prompt": "x"},
                     {"id": "b", "kind": "generate", "prompt": "never"}]}  # fmt: skip
    run, _, seen = await _run(doc, lambda r: "FAIL")
    assert run.outcome.status == "failed"
    assert run.outcome.error == "steps[0] (a): upstream down"  # no class name, no code
    assert run.outcome.code == "upstream_server_error"  # the failed step's, beside it
    assert run.steps["steps[0]"].status == "failed" and "steps[1]" not in run.steps
    assert [s.path for s in seen] == ["steps[0]"]
