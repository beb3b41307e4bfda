"""The template language: references, filters, caps, and no way to reach Python."""

from __future__ import annotations

import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orchestra.chain import templates
from orchestra.chain.templates import MAX_OUTPUT_BYTES, Reference, parse
from orchestra.errors import InvalidRequest, WorkflowFailed

CONTEXT = {
    "inputs": {"topic": "tides", "n": 3, "flag": True, "nothing": None},
    "steps": {
        "a": {"output": {"points": ["one", "two"], "score": 0.5}},
        "b": {"output": "  Mixed Case  "},
        "c": {"output": ["x", "y"]},
    },
    "item": "the item",
    "index": 2,
}


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("plain text", "plain text"),
        ("About {{ inputs.topic }}.", "About tides."),
        ("{{inputs.topic}}", "tides"),
        ("{{ steps.a.output.points[1] }}", "two"),
        ("{{ steps.a.output.points.0 }}", "one"),
        ("{{ steps.a.output }}", '{"points":["one","two"],"score":0.5}'),
        ("{{ steps.c.output }}", '["x","y"]'),
        ("{{ inputs.n }} {{ inputs.flag }} [{{ inputs.nothing }}]", "3 true []"),
        ("{{ steps.b.output | trim }}", "Mixed Case"),
        ("{{ steps.b.output | trim | upper }}", "MIXED CASE"),
        ("{{ steps.b.output | lower | trim }}", "mixed case"),
        ("{{ inputs.topic | json }}", '"tides"'),
        ("{{ item }} #{{ index }}", "the item #2"),
    ],
)
def test_render(source: str, expected: str) -> None:
    assert parse(source).render(CONTEXT) == expected


def test_a_bare_reference_evaluates_to_the_value_itself() -> None:
    # Given a template that is one expression, When evaluated, Then the list stays a list
    assert parse("{{ steps.c.output }}").evaluate(CONTEXT) == ["x", "y"]
    assert parse(" {{ steps.c.output }}").evaluate(CONTEXT) == ' ["x","y"]'


def test_references_lists_every_reference_in_order() -> None:
    parsed = parse("{{ inputs.topic }} and {{ steps.a.output[0] | json }} {{ item }}")
    assert [str(r) for r in parsed.references()] == ["inputs.topic", "steps.a.output[0]", "item"]
    assert parsed.references()[1] == Reference("steps", ("a", "output", 0))


@pytest.mark.parametrize(
    ("source", "fragment"),
    [
        ("{{ inputs.topic", "unclosed"),
        ("a }} b", "without an opening"),
        ("{{ }}", "not a reference"),
        ("{{ inputs.topic | shout }}", "unknown filter 'shout'"),
        ("{{ inputs.__class__ }}", "'__class__' is not a key"),
        ("{{ steps.a.output.__dict__ }}", "'__dict__' is not a key"),
        ("{{ inputs._private }}", "not a key"),
        ("{{ inputs.topic() }}", "'topic()' is not a key"),
        ("{{ inputs['topic'] }}", "only a list index"),
        ("{{ inputs.topic + 1 }}", "is not a key"),
        ("{{ __import__('os') }}", "not a reference"),
        ("{{ 1 + 1 }}", "not a reference"),
        ("{{ inputs[-1] }}", "only a list index"),
        ("{{ a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p.q.r }}", "more than 16 lookups"),
    ],
)
def test_parse_errors(source: str, fragment: str) -> None:
    with pytest.raises(InvalidRequest) as error:
        parse(source)
    assert fragment in error.value.message


@pytest.mark.parametrize(
    ("source", "fragment"),
    [
        ("{{ missing }}", "'missing' is not defined"),
        ("{{ inputs.other }}", "'inputs' has no key 'other'"),
        ("{{ steps.c.output[5] }}", "has 2 items, no [5]"),
        ("{{ steps.c.output.first }}", "is a list, cannot look up 'first'"),
        ("{{ inputs.topic.upper }}", "is str, cannot look up 'upper'"),
        ("{{ inputs.topic.0 }}", "is str"),
    ],
)
def test_render_errors_are_step_failures(source: str, fragment: str) -> None:
    with pytest.raises(WorkflowFailed) as error:
        parse(source).render(CONTEXT)
    assert fragment in error.value.message


def test_the_rendered_text_is_capped() -> None:
    big = {"inputs": {"x": "é" * (MAX_OUTPUT_BYTES // 2 + 1)}}
    with pytest.raises(WorkflowFailed) as error:
        parse("{{ inputs.x }}").render(big)
    assert error.value.code == "template_too_large"
    with pytest.raises(WorkflowFailed):
        parse("{{ inputs.x }}").evaluate(big)
    # twice a value under the cap is over it
    half = {"inputs": {"x": "a" * (MAX_OUTPUT_BYTES // 2 + 1)}}
    assert parse("{{ inputs.x }}").render(half)
    with pytest.raises(WorkflowFailed):
        parse("{{ inputs.x }}{{ inputs.x }}").render(half)


def test_the_source_and_the_expression_count_are_capped() -> None:
    with pytest.raises(InvalidRequest):
        parse("x" * (templates.MAX_SOURCE_CHARS + 1))
    with pytest.raises(InvalidRequest):
        parse("{{ item }}" * (templates.MAX_EXPRESSIONS + 1))


_KEYISH = st.text(alphabet=string.ascii_letters + string.digits + "_.[]()|'\"+-*/ ", max_size=40)


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=60), _KEYISH)
def test_fuzz_the_renderer_never_reaches_python(prefix: str, expression: str) -> None:
    """Whatever the text, parsing either refuses it or yields lookups of plain names,
    and rendering reads nothing but dict keys and list items."""
    source = prefix + "{{ " + expression + " }}"
    try:
        parsed = parse(source)
    except InvalidRequest:
        return
    for ref in parsed.references():
        for key in (ref.root, *ref.keys):
            assert isinstance(key, int) or not key.startswith("_")
    context = {"inputs": {"topic": "t"}, "steps": {}, "item": [1, 2], "index": 0}
    try:
        text = parsed.render(context)
    except WorkflowFailed:
        return
    assert isinstance(text, str)


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from(["__class__", "__dict__", "__globals__", "_x", "__init__", "mro()", "format"])
)
def test_fuzz_attribute_names_are_refused_or_missing_keys(name: str) -> None:
    for source in (f"{{{{ inputs.{name} }}}}", f"{{{{ steps.a.output.{name} }}}}"):
        with pytest.raises((InvalidRequest, WorkflowFailed)):
            parse(source).render({"inputs": {}, "steps": {"a": {"output": "text"}}})
