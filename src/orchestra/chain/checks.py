"""The static checks of a chain document, run once when it is stored or started.

What a step may reference (its *scope*):

- ``inputs.<name>``: a declared input;
- ``steps.<id>.output``: a step that ran BEFORE it on every path that reaches it: an
  earlier sibling, an earlier sibling of any containing list (a condition's ``then``/
  ``else``, the top level), and, after a parallel step, its branches as well as the parallel
  step itself. Steps inside a condition's branch or a map are not visible after it (they may
  not have run, or ran once per item): reference the condition or the map instead;
- inside a parallel branch: what the parallel step sees, never the sibling branches; a
  ``combine.template`` sees the branches;
- inside a map's ``step``: also the item (``as``, default ``item``) and ``index``;
- in a ``classify`` prompt: also ``value`` (the condition's rendered value);
- ``outputs``: what a step after the last one would see.

Every error is an :class:`InvalidRequest` whose ``param`` is the path of the field.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from orchestra.chain import conditions, templates
from orchestra.chain.document import (
    AnyStep,
    Chain,
    ConditionStep,
    ConversationStep,
    GenerateStep,
    MapStep,
    ParallelStep,
)
from orchestra.errors import InvalidRequest

RESERVED = frozenset({"inputs", "steps", "index", "value"})


def invalid(path: str, message: str) -> InvalidRequest:
    return InvalidRequest(f"{path}: {message}", param=path)


def check_chain(chain: Chain) -> None:
    """Every static rule, the first broken one raised."""
    _unique_ids(chain)
    _Scope(chain).check_list(chain.steps, "steps", set(), frozenset())
    visible = _visible_after(chain.steps)
    for name, source in chain.outputs.items():
        _check_template(chain, f"outputs.{name}", source, visible, frozenset())
    _threads(chain)


def _unique_ids(chain: Chain) -> None:
    first: dict[str, str] = {}
    for located in chain.walk():
        sid = located.step.id
        if sid in first:
            raise invalid(f"{located.path}.id", f"step id '{sid}' is already used at {first[sid]}")
        first[sid] = located.path


def _visible_after(steps: list[Any]) -> set[str]:
    visible: set[str] = set()
    for step in steps:
        visible.update(_produces(step))
    return visible


def _produces(step: AnyStep) -> list[str]:
    """The ids a later step may reference once ``step`` has run."""
    if isinstance(step, ParallelStep):
        return [step.id, *(branch.id for branch in step.branches)]
    return [step.id]


class _Scope:
    def __init__(self, chain: Chain) -> None:
        self.chain = chain

    def check_list(
        self, steps: list[Any], prefix: str, visible: set[str], loop: frozenset[str]
    ) -> None:
        seen = set(visible)
        for i, step in enumerate(steps):
            self.check_step(step, f"{prefix}[{i}]", seen, loop)
            seen.update(_produces(step))

    def check_step(self, step: AnyStep, path: str, visible: set[str], loop: frozenset[str]) -> None:
        tpl = self._template
        if isinstance(step, GenerateStep | ConversationStep):
            if step.system is not None:
                tpl(f"{path}.system", step.system, visible, loop)
            tpl(f"{path}.prompt", step.prompt, visible, loop)
        elif isinstance(step, ParallelStep):
            for i, branch in enumerate(step.branches):
                self.check_step(branch, f"{path}.branches[{i}]", set(visible), loop)
            if step.combine.template is not None:
                inner = visible | {b.id for b in step.branches}
                tpl(f"{path}.combine.template", step.combine.template, inner, loop)
        elif isinstance(step, ConditionStep):
            self._condition(step, path, visible, loop)
        elif isinstance(step, MapStep):
            self._map(step, path, visible, loop)

    def _condition(
        self, step: ConditionStep, path: str, visible: set[str], loop: frozenset[str]
    ) -> None:
        self._template(f"{path}.value", step.value, visible, loop)
        classify = step.when.classify
        if classify is not None:
            with_value = loop | {"value"}
            self._template(f"{path}.when.classify.prompt", classify.prompt, visible, with_value)
        try:
            conditions.compile_when(step.when)
        except InvalidRequest as exc:
            raise invalid(f"{path}.when.{step.when.test}", exc.message) from None
        self.check_list(step.then, f"{path}.then", visible, loop)
        self.check_list(step.else_, f"{path}.else", visible, loop)

    def _map(self, step: MapStep, path: str, visible: set[str], loop: frozenset[str]) -> None:
        if step.as_ in RESERVED:
            raise invalid(f"{path}.as", f"'{step.as_}' is reserved ({', '.join(sorted(RESERVED))})")
        try:
            ref = over_reference(step.over)
        except InvalidRequest as exc:
            raise invalid(f"{path}.over", exc.message) from None
        _check_reference(self.chain, f"{path}.over", ref, visible, loop)
        self.check_step(step.step, f"{path}.step", set(visible), loop | {step.as_, "index"})

    def _template(self, path: str, source: str, visible: set[str], loop: frozenset[str]) -> None:
        _check_template(self.chain, path, source, visible, loop)


def over_reference(text: str) -> templates.Reference:
    """A map's ``over``: a bare reference (``steps.outline.output``); ``{{ ... }}`` around
    it is tolerated, filters are not."""
    body = text.strip()
    if body.startswith("{{") and body.endswith("}}"):
        body = body[2:-2]
    if "|" in body or "{" in body or "}" in body:
        raise InvalidRequest(f"'{text}' must be a reference such as steps.outline.output")
    return templates.parse_reference(body)


def _check_template(
    chain: Chain, path: str, source: str, visible: set[str], loop: frozenset[str]
) -> None:
    try:
        parsed = templates.parse(source)
    except InvalidRequest as exc:
        raise invalid(path, exc.message) from None
    for ref in parsed.references():
        _check_reference(chain, path, ref, visible, loop)


def _check_reference(
    chain: Chain, path: str, ref: templates.Reference, visible: set[str], loop: frozenset[str]
) -> None:
    if ref.root in loop:
        return
    head = f"{ref.root}.{ref.keys[0]}" if ref.keys else ref.root
    if ref.root == "inputs":
        if not ref.keys or ref.keys[0] not in chain.inputs:
            declared = ", ".join(chain.inputs) or "none"
            raise invalid(path, f"unknown reference '{head}' (declared inputs: {declared})")
        return
    if ref.root != "steps":
        names = ", ".join(["inputs", "steps", *sorted(loop)])
        raise invalid(path, f"unknown reference '{ref}' (a reference starts with {names})")
    if not ref.keys or ref.keys[0] not in visible:
        known = {located.step.id for located in chain.walk()}
        why = (
            "not a step that always runs before this one"
            if ref.keys and ref.keys[0] in known
            else "no such step"
        )
        raise invalid(path, f"unknown reference '{head}' ({why})")
    if len(ref.keys) < 2 or ref.keys[1] != "output":
        raise invalid(path, f"'{ref}': a step is referenced as {head}.output")


def _threads(chain: Chain) -> None:
    """A thread's steps run one after another: never inside a map (items run at once),
    never in two branches of one parallel step; ``system`` on its first step only."""
    seen: dict[str, tuple[str, dict[str, str]]] = {}
    for located in chain.walk():
        step = located.step
        if not isinstance(step, ConversationStep):
            continue
        branches = _branch_context(located.path)
        if ".step" in located.path.replace(".steps", ""):
            raise invalid(f"{located.path}.thread", "a conversation cannot run inside a map")
        if step.thread not in seen:
            seen[step.thread] = (located.path, branches)
            continue
        first, first_branches = seen[step.thread]
        if step.system is not None:
            raise invalid(
                f"{located.path}.system",
                f"'system' goes on the first step of thread '{step.thread}' only ({first})",
            )
        for parallel, branch in branches.items():
            if parallel in first_branches and first_branches[parallel] != branch:
                raise invalid(
                    f"{located.path}.thread",
                    f"thread '{step.thread}' is also used in another branch ({first})",
                )


def _branch_context(path: str) -> dict[str, str]:
    """``steps[1].branches[0].then[2]`` -> ``{"steps[1]": "0"}``."""
    out: dict[str, str] = {}
    parts = path.split(".branches[")
    prefix = parts[0]
    for part in parts[1:]:
        index, _, rest = part.partition("]")
        out[prefix] = index
        prefix = f"{prefix}.branches[{index}]{rest}"
    return out


_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "number": (int, float),
    "boolean": (bool,),
    "array": (list,),
    "object": (dict,),
}


def bind_inputs(chain: Chain, given: dict[str, Any]) -> dict[str, Any]:
    """A run's inputs checked against the declaration, defaults filled in."""
    if not isinstance(given, dict):
        raise InvalidRequest("inputs: an object of name -> value", param="inputs")
    for name in given:
        if name not in chain.inputs:
            raise invalid(
                f"inputs.{name}",
                f"not an input of this chain ({', '.join(chain.inputs) or 'none'})",
            )
    bound: dict[str, Any] = {}
    for name, spec in chain.inputs.items():
        if name not in given:
            if spec.required:
                raise invalid(f"inputs.{name}", "is required")
            bound[name] = spec.default
            continue
        value = given[name]
        wrong_bool = isinstance(value, bool) and spec.type == "number"
        if not isinstance(value, _JSON_TYPES[spec.type]) or wrong_bool:
            raise invalid(f"inputs.{name}", f"must be {spec.type}")
        bound[name] = value
    return bound


def count_kinds(chain: Chain) -> Counter[str]:
    """How many steps of each kind the document declares (nesting included, once each)."""
    return Counter(located.step.kind for located in chain.walk())
