"""Condition tests: each kind, the classify seam, and the regex safety bound."""

from __future__ import annotations

import time
from typing import Any

import pytest

from orchestra.chain.conditions import (
    REGEX_MAX_INPUT,
    compile_when,
    parse_json_path,
    pick_label,
    regex_bound,
)
from orchestra.chain.document import When
from orchestra.errors import InvalidRequest, WorkflowFailed


def decide(when: dict[str, Any], value: Any) -> bool:
    return compile_when(When.model_validate(when)).decide(value).matched


@pytest.mark.parametrize(
    ("when", "value", "matched"),
    [
        ({"equals": "yes"}, "yes\n", True),
        ({"equals": "yes"}, "Yes", False),
        ({"equals": 3}, 3, True),
        ({"equals": 3}, 3.0, True),
        ({"equals": 3}, "3", True),
        ({"equals": True}, 1, False),
        ({"equals": True}, "true", True),
        ({"equals": None}, None, True),
        ({"equals": {"a": 1}}, {"a": 1}, True),
        ({"equals": ["x"]}, '["x"]', True),
        ({"contains": "tide"}, "tidal and tides", True),
        ({"contains": "moon"}, "tides", False),
        ({"contains": "b"}, ["a", "b"], True),
        ({"contains": "b"}, ["abc"], False),
        ({"contains": '"a"'}, {"a": 1}, True),
        ({"regex": r"^\s*yes\b"}, "  yes, of course", True),
        ({"regex": r"^\s*yes\b"}, "yesterday", False),
        ({"regex": r"(?i)APPROVED"}, "approved", True),
        ({"json_path": "$.verdict", "equals": "pass"}, '{"verdict": "pass"}', True),
        ({"json_path": "$.verdict", "equals": "pass"}, {"verdict": "fail"}, False),
        ({"json_path": "$.items[1].ok"}, {"items": [{}, {"ok": True}]}, True),
        ({"json_path": "$.items[1].ok"}, {"items": [{}, {"ok": False}]}, False),
        ({"json_path": "$.items[5]"}, {"items": []}, False),
        ({"json_path": "$['a key']"}, {"a key": "x"}, True),
        ({"json_path": "$.a"}, "not json", False),
        ({"json_path": "$"}, "[1]", True),
        ({"json_path": "$.n", "equals": 2}, '{"n": 2}', True),
    ],
)
def test_decide(when: dict[str, Any], value: Any, matched: bool) -> None:
    assert decide(when, value) is matched


def test_classify_asks_for_a_call_then_decides_on_the_answer() -> None:
    # Given a classify test
    when = When.model_validate(
        {"classify": {"prompt": "p", "labels": ["bug", "other"], "equals": "bug", "model": "m"}}
    )
    test = compile_when(when)
    assert test.needs_model
    # When the runner asks what to call
    ask = test.request("Is this a bug? it crashes")
    assert (ask.prompt, ask.labels, ask.model, ask.max_tokens) == (
        "Is this a bug? it crashes",
        ["bug", "other"],
        "m",
        16,
    )
    messages = ask.messages()
    assert "bug, other" in messages[0]["content"] and messages[1]["content"] == ask.prompt
    # Then the answer decides the branch
    assert test.decide("v", "Bug.").matched
    decision = test.decide("v", "other")
    assert (decision.matched, decision.label) == (False, "other")
    with pytest.raises(WorkflowFailed):
        test.decide("v")
    assert not compile_when(When(contains="x")).needs_model


@pytest.mark.parametrize(
    ("answer", "label"),
    [("yes", "yes"), (" YES. ", "yes"), ("**no**", "no"), ("I think the answer is no.", "no")],
)
def test_pick_label(answer: str, label: str) -> None:
    assert pick_label(answer, ["yes", "no"]) == label


@pytest.mark.parametrize("answer", ["maybe", "yes or no", ""])
def test_an_answer_that_is_no_label_fails_the_step(answer: str) -> None:
    with pytest.raises(WorkflowFailed) as caught:
        pick_label(answer, ["yes", "no"])
    assert "not one of yes, no" in caught.value.message


@pytest.mark.parametrize(
    ("pattern", "fragment"),
    [
        ("(a+)+$", "repeat inside a repeat"),
        ("(a*)*b", "repeat inside a repeat"),
        ("(a|aa)+b", "alternation"),
        ("(x)\\1", "backreferences"),
        ("(?P<x>a)(?P=x)", "backreferences"),
        (".*a.*b", "unbounded repeats"),
        ("\\s*\\d+", "unbounded repeats"),
        ("a{0,1000}b{0,1000}", "backtrack too much"),
        ("a?" * 30, "too many repeats"),
        ("a" * 300, "limited to 256"),
        ("[", "not a valid regex"),
    ],
)
def test_unsafe_regexes_are_refused(pattern: str, fragment: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        regex_bound(pattern)
    assert fragment in caught.value.message


@pytest.mark.parametrize(
    ("pattern", "at_least"),
    [
        ("approved", REGEX_MAX_INPUT),
        (r"^\s*yes\b", 4_000),
        (r"score:\s*+\d++", 4_000),
        (r"(?s).*done", 4_000),
        (r"(yes|no)", REGEX_MAX_INPUT),
        ("a{0,5000}", 3_000),
    ],
)
def test_safe_regexes_get_a_bound(pattern: str, at_least: int) -> None:
    assert at_least <= regex_bound(pattern) <= REGEX_MAX_INPUT


def test_a_value_longer_than_the_bound_fails_the_step_instead_of_hanging() -> None:
    test = compile_when(When(regex=r".*x"))
    with pytest.raises(WorkflowFailed) as caught:
        test.decide("a" * (test.max_input + 1))
    assert f"{test.max_input}" in caught.value.message


@pytest.mark.parametrize("pattern", [r".*x", r"\s*x", r"\d++x", r"[a-z]+\d"])
def test_the_worst_case_within_the_bound_is_quick(pattern: str) -> None:
    # Given an admitted pattern and the longest value it may see, with no match
    test = compile_when(When(regex=pattern))
    value = "a" * test.max_input
    # When it is searched, Then it takes well under a second
    started = time.perf_counter()
    assert not test.decide(value).matched
    assert time.perf_counter() - started < 1.5


@pytest.mark.parametrize(
    ("path", "keys"),
    [("$", ()), ("$.a.b[0]", ("a", "b", 0)), ("$['x y'][2]", ("x y", 2)), ('$["k"]', ("k",))],
)
def test_parse_json_path(path: str, keys: tuple[Any, ...]) -> None:
    assert parse_json_path(path) == keys


@pytest.mark.parametrize("path", ["a", "$..a", "$.a[?(@.x)]", "$.a[0:2]", "$.*"])
def test_json_path_features_beyond_the_subset_are_refused(path: str) -> None:
    with pytest.raises(InvalidRequest):
        parse_json_path(path)
