"""The chain document: models, loader, and static checks, each error naming its path."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from orchestra.chain.document import (
    Chain,
    ConditionStep,
    MapStep,
    ParallelStep,
    load_chain,
    parse_chain,
)
from orchestra.errors import InvalidRequest

EXAMPLES = Path(__file__).resolve().parents[3] / "examples" / "chains"


def base() -> dict[str, Any]:
    return {
        "name": "brief",
        "inputs": {"topic": {"type": "string"}, "n": {"type": "number", "default": 3}},
        "steps": [
            {"id": "outline", "kind": "generate", "prompt": "Outline {{ inputs.topic }}"},
            {
                "id": "drafts",
                "kind": "parallel",
                "branches": [
                    {"id": "a", "kind": "generate", "prompt": "A {{ steps.outline.output }}"},
                    {"id": "b", "kind": "generate", "prompt": "B {{ steps.outline.output }}"},
                ],
                "combine": {"template": "{{ steps.a.output }} / {{ steps.b.output }}"},
            },
            {
                "id": "check",
                "kind": "condition",
                "value": "{{ steps.drafts.output }}",
                "when": {"contains": "tide"},
                "then": [{"id": "yes", "kind": "generate", "prompt": "{{ steps.a.output }}"}],
                "else": [{"id": "no", "kind": "generate", "prompt": "{{ steps.b.output }}"}],
            },
            {
                "id": "expand",
                "kind": "map",
                "over": "steps.outline.output",
                "step": {"kind": "generate", "prompt": "{{ item }} ({{ index }})"},
            },
            {"id": "ask", "kind": "conversation", "thread": "t", "system": "s", "prompt": "Q?"},
            {
                "id": "ask2",
                "kind": "conversation",
                "thread": "t",
                "prompt": "{{ steps.ask.output }}",
            },
        ],
        "outputs": {"result": "{{ steps.check.output }} {{ steps.expand.output | json }}"},
    }


def error_of(doc: Any) -> InvalidRequest:
    with pytest.raises(InvalidRequest) as caught:
        parse_chain(doc)
    return caught.value


def test_a_full_chain_loads_and_walks_with_paths() -> None:
    chain = parse_chain(base())
    walked = [(located.path, located.step.id, located.depth) for located in chain.walk()]
    assert walked == [
        ("steps[0]", "outline", 1),
        ("steps[1]", "drafts", 1),
        ("steps[1].branches[0]", "a", 2),
        ("steps[1].branches[1]", "b", 2),
        ("steps[2]", "check", 1),
        ("steps[2].then[0]", "yes", 2),
        ("steps[2].else[0]", "no", 2),
        ("steps[3]", "expand", 1),
        ("steps[3].step", "expand_item", 2),
        ("steps[4]", "ask", 1),
        ("steps[5]", "ask2", 1),
    ]
    assert isinstance(chain.find("steps[2]"), ConditionStep)
    assert chain.find("steps[3].step").id == "expand_item"


def test_defaults_and_aliases() -> None:
    chain = parse_chain(base())
    outline, drafts, check, expand = chain.steps[:4]
    assert outline.model == "auto" and outline.max_tokens == 512
    assert isinstance(drafts, ParallelStep) and drafts.combine.template
    assert isinstance(check, ConditionStep) and check.else_[0].id == "no"
    assert isinstance(expand, MapStep) and (expand.as_, expand.concurrency, expand.max_items) == (
        "item",
        4,
        20,
    )
    document = chain.document()
    assert "else" in document["steps"][2] and document["steps"][3]["as"] == "item"
    # the stored document loads back to the same chain
    assert parse_chain(document) == chain


def test_yaml_and_json_give_the_same_chain() -> None:
    doc = base()
    from_json = load_chain(json.dumps(doc), "application/json")
    from_yaml = load_chain(yaml.safe_dump(doc), "application/yaml")
    from_bytes = load_chain(yaml.safe_dump(doc).encode(), None)
    assert from_json == from_yaml == from_bytes


@pytest.mark.parametrize("name", ["brief.yaml", "classify.yaml"])
def test_the_examples_are_valid(name: str) -> None:
    chain = load_chain((EXAMPLES / name).read_text(), "application/yaml")
    assert chain.name == name.removesuffix(".yaml")


def test_the_path_name_must_match_the_document() -> None:
    assert parse_chain(base(), name="brief").name == "brief"
    unnamed = {k: v for k, v in base().items() if k != "name"}
    assert parse_chain(unnamed, name="other").name == "other"
    error = error_of_named(base(), "other")
    assert error.param == "name" and "'brief'" in error.message


def error_of_named(doc: dict[str, Any], name: str) -> InvalidRequest:
    with pytest.raises(InvalidRequest) as caught:
        parse_chain(doc, name=name)
    return caught.value


def mutate(path: list[Any], value: Any, *, delete: bool = False) -> dict[str, Any]:
    doc = copy.deepcopy(base())
    node: Any = doc
    for key in path[:-1]:
        node = node[key]
    if delete:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return doc


CASES = [
    # (where, value, param, message fragment)
    (
        ["steps", 0, "prompt"],
        "{{ steps.drafts.output }}",
        "steps[0].prompt",
        "unknown reference 'steps.drafts' (not a step that always runs",
    ),
    (
        ["steps", 0, "prompt"],
        "{{ inputs.topik }}",
        "steps[0].prompt",
        "unknown reference 'inputs.topik'",
    ),
    (["steps", 0, "prompt"], "{{ steps.nope.output }}", "steps[0].prompt", "(no such step)"),
    (["steps", 0, "prompt"], "{{ item }}", "steps[0].prompt", "unknown reference 'item'"),
    (["steps", 0, "prompt"], "{{ inputs.topic", "steps[0].prompt", "unclosed"),
    (["steps", 0, "system"], "{{ inputs.__class__ }}", "steps[0].system", "not a key"),
    (
        ["steps", 1, "branches", 0, "prompt"],
        "{{ steps.b.output }}",
        "steps[1].branches[0].prompt",
        "unknown reference 'steps.b'",
    ),
    (
        ["steps", 1, "branches", 1, "id"],
        "a",
        "steps[1].branches[1].id",
        "step id 'a' is already used at steps[1].branches[0]",
    ),
    (
        ["steps", 1, "combine"],
        {"strategy": "vote", "template": "x"},
        "steps[1].combine",
        "exactly one of 'strategy' or 'template'",
    ),
    (
        ["steps", 1, "combine"],
        {"strategy": "vote", "judge": "m"},
        "steps[1].combine",
        "'judge' goes with strategy 'judge'",
    ),
    (["steps", 1, "combine"], {"strategy": "majority"}, "steps[1].combine.strategy", "vote"),
    (["steps", 1, "branches"], [], "steps[1].branches", "at least 1"),
    (
        ["steps", 2, "then", 0, "prompt"],
        "{{ steps.no.output }}",
        "steps[2].then[0].prompt",
        "unknown reference 'steps.no'",
    ),
    (["steps", 2, "when"], {"contains": "x", "regex": "y"}, "steps[2].when", "exactly one of"),
    (["steps", 2, "when"], {}, "steps[2].when", "got none"),
    (["steps", 2, "when"], {"regex": "(a+)+$"}, "steps[2].when.regex", "repeat inside a repeat"),
    (["steps", 2, "when"], {"regex": "(a"}, "steps[2].when.regex", "not a valid regex"),
    (["steps", 2, "when"], {"json_path": "a.b"}, "steps[2].when.json_path", "must start with $"),
    (["steps", 2, "when"], {"json_path": "$.a[*]"}, "steps[2].when.json_path", "unsupported"),
    (
        ["steps", 2, "when"],
        {"classify": {"prompt": "p", "labels": ["y", "n"], "equals": "m"}},
        "steps[2].when.classify",
        "not one of the labels",
    ),
    (
        ["steps", 2, "when"],
        {"classify": {"prompt": "{{ item }}", "labels": ["y", "n"], "equals": "y"}},
        "steps[2].when.classify.prompt",
        "unknown reference 'item'",
    ),
    (["steps", 2, "then"], [], None, None),  # else alone is fine
    (
        ["steps", 2, "value"],
        "{{ steps.yes.output }}",
        "steps[2].value",
        "unknown reference 'steps.yes'",
    ),
    (
        ["steps", 3, "over"],
        "{{ steps.outline.output | json }}",
        "steps[3].over",
        "must be a reference",
    ),
    (
        ["steps", 3, "over"],
        "steps.expand.output",
        "steps[3].over",
        "unknown reference 'steps.expand'",
    ),
    (["steps", 3, "as"], "index", "steps[3].as", "reserved"),
    (["steps", 3, "concurrency"], 0, "steps[3].concurrency", "greater than or equal to 1"),
    (
        ["steps", 3, "step", "prompt"],
        "{{ steps.expand_item.output }}",
        "steps[3].step.prompt",
        "unknown reference",
    ),
    (["steps", 3, "step", "kind"], "loop", "steps[3].step.kind", "'kind' must be one of"),
    (["steps", 4, "kind"], "shout", "steps[4].kind", "'kind' must be one of"),
    (["steps", 5, "system"], "again", "steps[5].system", "first step of thread 't' only"),
    (["steps", 5, "thread"], "Bad Thread", "steps[5].thread", "pattern"),
    (["steps", 0, "id"], "Outline", "steps[0].id", "pattern"),
    (["steps", 0, "promt"], "typo", "steps[0].promt", "Extra inputs are not permitted"),
    (["steps", 0, "max_tokens"], 0, "steps[0].max_tokens", "greater than or equal to 1"),
    (["steps", 0, "temperature"], 3, "steps[0].temperature", "less than or equal to 2"),
    (
        ["steps", 5, "prompt"],
        "{{ steps.ask.model }}",
        "steps[5].prompt",
        "referenced as steps.ask.output",
    ),
    (
        ["outputs", "result"],
        "{{ steps.yes.output }}",
        "outputs.result",
        "unknown reference 'steps.yes'",
    ),
    (["outputs", "result"], "{{ item }}", "outputs.result", "unknown reference 'item'"),
    (["inputs", "topic", "type"], "text", "inputs.topic.type", "string"),
    (["limits"], {"max_steps": 0}, "limits.max_steps", "greater than or equal to 1"),
    (["steps"], [], "steps", "at least 1"),
    (["colour"], "blue", "colour", "Extra inputs are not permitted"),
]


@pytest.mark.parametrize(("where", "value", "param", "fragment"), CASES)
def test_each_error_names_its_path(
    where: list[Any], value: Any, param: str | None, fragment: str | None
) -> None:
    doc = mutate(where, value)
    if param is None:
        parse_chain(doc)
        return
    error = error_of(doc)
    assert error.param == param
    assert error.message.startswith(f"{param}: ")
    assert fragment in error.message
    assert error.status == 400


def test_a_missing_required_field_names_it() -> None:
    error = error_of(mutate(["steps", 0, "prompt"], None, delete=True))
    assert (error.param, error.message) == ("steps[0].prompt", "steps[0].prompt: Field required")
    error = error_of(mutate(["steps", 0, "kind"], None, delete=True))
    assert error.param == "steps[0].kind" and "needs a 'kind'" in error.message


def test_a_condition_needs_some_steps() -> None:
    doc = mutate(["steps", 2, "then"], [])
    del doc["steps"][2]["else"]
    error = error_of(doc)
    assert error.param == "steps[2]" and "'then' or 'else'" in error.message


def test_parallel_branches_are_visible_after_the_parallel_step() -> None:
    doc = mutate(["steps", 3, "step", "prompt"], "{{ steps.a.output }} {{ steps.drafts.output }}")
    parse_chain(doc)


def test_a_later_step_in_a_condition_list_sees_its_earlier_siblings() -> None:
    doc = base()
    doc["steps"][2]["then"].append(
        {
            "id": "yes2",
            "kind": "generate",
            "prompt": "{{ steps.yes.output }} {{ steps.outline.output }}",
        }
    )
    parse_chain(doc)


def test_nested_maps_see_both_items() -> None:
    doc = base()
    doc["steps"][3]["step"] = {
        "id": "inner",
        "kind": "map",
        "over": "{{ item }}",
        "as": "sub",
        "step": {"kind": "generate", "prompt": "{{ item }} / {{ sub }} / {{ index }}"},
    }
    chain = parse_chain(doc)
    assert chain.find("steps[3].step.step").id == "inner_item"


def test_a_conversation_cannot_run_in_a_map_or_two_branches() -> None:
    doc = mutate(["steps", 3, "step"], {"kind": "conversation", "thread": "t", "prompt": "x"})
    assert error_of(doc).param == "steps[3].step.thread"
    doc = base()
    doc["steps"][1]["branches"] = [
        {"id": "a", "kind": "conversation", "thread": "u", "prompt": "x"},
        {"id": "b", "kind": "conversation", "thread": "u", "prompt": "y"},
    ]
    error = error_of(doc)
    assert error.param == "steps[1].branches[1].thread"
    assert "another branch (steps[1].branches[0])" in error.message


def test_unique_ids_across_nesting() -> None:
    doc = mutate(["steps", 3, "step", "id"], "outline")
    error = error_of(doc)
    assert error.param == "steps[3].step.id" and "already used at steps[0]" in error.message


@pytest.mark.parametrize(
    ("text", "content_type", "fragment"),
    [
        ("{not json", "application/json", "not valid JSON"),
        ("steps: [\n  - a\n  b: :", "application/yaml", "not valid YAML"),
        ("- just\n- a list", None, "an object with 'steps'"),
        (b"\xff\xfe", None, "not UTF-8"),
        ("x" * 300_000, None, "limited to"),
    ],
)
def test_unreadable_documents(text: str | bytes, content_type: str | None, fragment: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        load_chain(text, content_type)
    assert fragment in caught.value.message and caught.value.param == "chain"


def test_yaml_is_loaded_safely() -> None:
    with pytest.raises(InvalidRequest):
        load_chain("!!python/object/apply:os.system ['true']", None)


def test_inputs_are_bound_with_defaults_and_types() -> None:
    chain = parse_chain(base())
    assert chain.with_inputs({"topic": "tides"}) == {"topic": "tides", "n": 3}
    for given, param in [
        ({}, "inputs.topic"),
        ({"topic": 1}, "inputs.topic"),
        ({"topic": "t", "n": True}, "inputs.n"),
        ({"topic": "t", "extra": 1}, "inputs.extra"),
    ]:
        with pytest.raises(InvalidRequest) as caught:
            chain.with_inputs(given)
        assert caught.value.param == param


def test_the_chain_model_is_frozen() -> None:
    chain: Chain = parse_chain(base())
    with pytest.raises(Exception):  # noqa: B017 - pydantic's frozen error
        chain.steps[0].prompt = "x"  # type: ignore[misc]
