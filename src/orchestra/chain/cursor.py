"""Where a run is: the step after a cursor, and the items a map step runs over.

The cursor is a small path (``steps[2]``, ``steps[2].then[0]``): the state machine carries
it between ``next`` calls and a condition's recorded branch decides whether ``next`` walks
into its list. Pure functions of the chain and the stored run, kept apart from
``chain.steps`` (which runs steps and stores their results).
"""

from __future__ import annotations

import re
from typing import Any

from orchestra.chain.document import Chain, ConditionStep, MapStep
from orchestra.chain.store import Run
from orchestra.chain.templates import parse_reference
from orchestra.errors import WorkflowFailed

_INDEXED = re.compile(r"^(.*)\[(\d+)\]$")


def after(chain: Chain, run: Run, cursor: str) -> str | None:
    """The path after ``cursor`` ("" = the start); None when the chain is done."""
    if not cursor:
        return "steps[0]"
    step = chain.find(cursor)
    if isinstance(step, ConditionStep):
        done = run.steps.get(cursor)
        branch = done.branch if done is not None else None
        inner = step.then if branch == "then" else step.else_ if branch == "else" else []
        if inner:
            return f"{cursor}.{branch}[0]"
    return sibling(chain, cursor)


def sibling(chain: Chain, path: str) -> str | None:
    """The step after ``path`` in its list, or after the condition owning that list."""
    found = _INDEXED.match(path)
    if found is None:
        raise WorkflowFailed(f"malformed step path {path!r}")
    prefix, index = found.group(1), int(found.group(2))
    if prefix == "steps":
        siblings: list[Any] = chain.steps
    else:
        owner, _, branch = prefix.rpartition(".")
        condition = chain.find(owner)
        if not isinstance(condition, ConditionStep):
            raise WorkflowFailed(f"malformed step path {path!r}")
        siblings = condition.then if branch == "then" else condition.else_
    if index + 1 < len(siblings):
        return f"{prefix}[{index + 1}]"
    return None if prefix == "steps" else sibling(chain, prefix.rpartition(".")[0])


def map_items(step: MapStep, context: dict[str, Any]) -> list[Any]:
    """The list a map runs over: a list as such, text one item per non-empty line."""
    value = parse_reference(step.over).resolve(context)
    if isinstance(value, str):
        return [line.strip() for line in value.splitlines() if line.strip()]
    if not isinstance(value, list):
        raise WorkflowFailed(f"'{step.over}' is neither a list nor text (it is {_kind(value)})")
    return value


def _kind(value: Any) -> str:
    names = {dict: "an object", bool: "a boolean", int: "a number", float: "a number"}
    return "null" if value is None else names.get(type(value), "not a list")
