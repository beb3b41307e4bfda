"""A condition step's test: does the value pass ``when``?

``equals``, ``contains``, ``regex`` and ``json_path`` are decided here with no I/O.
``classify`` needs one model call, which this module does not make: the step asks
:meth:`Test.request` for the call to make (a prompt and its labels), makes it through its
own completer, and hands the answer back to :meth:`Test.decide`::

    test = compile_when(step.when)
    if test.needs_model:
        ask = test.request(prompt_text)         # ClassifyRequest(prompt, labels, model, ...)
        answer = await completer(...ask...)     # the runner's business
        decision = test.decide(value, answer)
    else:
        decision = test.decide(value)
    branch = "then" if decision.matched else "else"

Regular expressions come from clients and Python's ``re`` has no timeout, so a pattern is
admitted only when its worst case is bounded (:func:`regex_bound`): at most
:data:`REGEX_MAX_PATTERN` characters, no backreferences, no variable repeat inside another
and no alternation inside a variable repeat (the exponential cases), and the value is at
most as long as the pattern's budget allows (polynomial cases: ``.*a.*b`` on a long text).
"""

from __future__ import annotations

import importlib
import json
import math
import re
from dataclasses import dataclass
from typing import Any

from orchestra.chain.document import Classify, When
from orchestra.chain.templates import as_text
from orchestra.errors import InvalidRequest, WorkflowFailed

REGEX_MAX_PATTERN = 256
#: backtracking steps a pattern may take in the worst case: CPython's ``re`` runs about
#: 3e7 character-class steps a second, so about 0.7 s (measured: ``[a-z]+\\d`` over 4,472
#: ``a`` with no match)
REGEX_STEP_BUDGET = 20_000_000
#: the longest value a regex ever sees, whatever its budget
REGEX_MAX_INPUT = 20_000
#: a pattern whose budget leaves less than this much text is refused when the chain is stored
REGEX_MIN_INPUT = 1_000

_JSON_PATH = re.compile(r"\.([A-Za-z_][A-Za-z0-9_-]*)|\[(\d{1,9})\]|\['([^']*)'\]|\[\"([^\"]*)\"\]")


@dataclass(frozen=True)
class Decision:
    matched: bool
    #: the classifier's label (classify only)
    label: str | None = None


@dataclass(frozen=True)
class ClassifyRequest:
    """The model call a classify test needs: the runner makes it."""

    prompt: str
    labels: list[str]
    model: str
    max_tokens: int

    def messages(self) -> list[dict[str, str]]:
        """Chat messages asking for exactly one label."""
        instruction = (
            "Answer with exactly one of these labels and nothing else: "
            + ", ".join(self.labels)
            + "."
        )
        return [
            {"role": "system", "content": instruction},
            {"role": "user", "content": self.prompt},
        ]


@dataclass(frozen=True)
class Test:
    when: When
    pattern: re.Pattern[str] | None = None
    max_input: int = REGEX_MAX_INPUT
    path: tuple[str | int, ...] = ()

    @property
    def needs_model(self) -> bool:
        return self.when.classify is not None

    def request(self, prompt: str) -> ClassifyRequest:
        """The classifier call, for the rendered classify prompt."""
        classify = self._classify()
        return ClassifyRequest(prompt, list(classify.labels), classify.model, classify.max_tokens)

    def decide(self, value: Any, answer: str | None = None) -> Decision:
        """Whether ``value`` passes (for classify: with the model's ``answer``)."""
        kind = self.when.test
        if kind == "classify":
            if answer is None:
                raise WorkflowFailed("condition: classify needs the model's answer")
            label = pick_label(answer, self._classify().labels)
            return Decision(label == self._classify().equals, label)
        if kind == "equals":
            return Decision(equals(value, self.when.equals))
        if kind == "contains":
            return Decision(contains(value, self.when.contains or ""))
        if kind == "regex":
            return Decision(self._search(value))
        return Decision(self._json_path(value))

    def _classify(self) -> Classify:
        assert self.when.classify is not None
        return self.when.classify

    def _search(self, value: Any) -> bool:
        assert self.pattern is not None
        text = as_text(value)
        if len(text) > self.max_input:
            raise WorkflowFailed(
                f"condition: the value has {len(text)} characters; this regex may look at"
                f" {self.max_input} at most (see the regex rules in docs/workflows.md)"
            )
        return self.pattern.search(text) is not None

    def _json_path(self, value: Any) -> bool:
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except json.JSONDecodeError:
                return False
        found, result = lookup(value, self.path)
        if not found:
            return False
        if "equals" in self.when.model_fields_set:
            return equals(result, self.when.equals)
        return bool(result)


def compile_when(when: When) -> Test:
    """The test, its regex or JSON path compiled once; a bad one is :class:`InvalidRequest`."""
    if when.test == "regex":
        assert when.regex is not None
        max_input = regex_bound(when.regex)
        return Test(when, re.compile(when.regex), max_input)
    if when.test == "json_path":
        assert when.json_path is not None
        return Test(when, path=parse_json_path(when.json_path))
    return Test(when)


def equals(value: Any, expected: Any) -> bool:
    """Equal as JSON values; a text compares with its surrounding blanks trimmed (so a
    model's ``"yes\\n"`` equals ``yes``) and with a non-text expectation as its JSON form."""
    if not isinstance(value, str) and not isinstance(expected, str):
        same_type = type(value) is type(expected) and bool(value == expected)
        return same_type or _same_number(value, expected)
    return as_text(value).strip() == as_text(expected).strip()


def _same_number(a: Any, b: Any) -> bool:
    numbers = (int, float)
    return (
        isinstance(a, numbers)
        and isinstance(b, numbers)
        and not isinstance(a, bool)
        and not isinstance(b, bool)
        and a == b
    )


def contains(value: Any, needle: str) -> bool:
    """A list contains an item equal to ``needle``; anything else contains it as text."""
    if isinstance(value, list):
        return any(equals(item, needle) for item in value)
    return needle in as_text(value)


def pick_label(answer: str, labels: list[str]) -> str:
    """The label the model meant: the whole answer (case, blanks and end punctuation
    ignored), else the only label appearing as a word in it."""
    cleaned = answer.strip().strip(".!\"'`*").strip().lower()
    for label in labels:
        if cleaned == label.lower():
            return label
    found = [
        label for label in labels if re.search(rf"(?<!\w){re.escape(label.lower())}(?!\w)", cleaned)
    ]
    if len(found) == 1:
        return found[0]
    raise WorkflowFailed(
        f"condition: the classifier answered {answer[:80]!r}, not one of {', '.join(labels)}"
    )


def parse_json_path(text: str) -> tuple[str | int, ...]:
    """``$``, then ``.key``, ``[0]``, ``['key']``: no wildcards, filters or slices."""
    if not text.startswith("$"):
        raise InvalidRequest(f"'{text}' must start with $ (e.g. $.verdict or $.items[0])")
    keys: list[str | int] = []
    position = 1
    while position < len(text):
        match = _JSON_PATH.match(text, position)
        if not match:
            raise InvalidRequest(
                f"'{text}': unsupported at '{text[position:]}' (only .key, [0] and ['key'])"
            )
        name, index, single, double = match.groups()
        keys.append(
            int(index)
            if index is not None
            else next(k for k in (name, single, double) if k is not None)
        )
        position = match.end()
    return tuple(keys)


def lookup(value: Any, path: tuple[str | int, ...]) -> tuple[bool, Any]:
    """``(found, value)`` at ``path``: dict keys and list indices only."""
    for key in path:
        if isinstance(key, int) and isinstance(value, list) and key < len(value):
            value = value[key]
        elif isinstance(value, dict) and str(key) in value:
            value = value[str(key)]
        else:
            return False, None
    return True, value


_parser: Any = importlib.import_module("re._parser")
_c: Any = importlib.import_module("re._constants")


def regex_bound(pattern: str) -> int:
    """The longest value ``pattern`` may search within :data:`REGEX_STEP_BUDGET`, or
    :class:`InvalidRequest` when the pattern is unsafe or the bound is uselessly small.

    Worst case of a backtracking search: ``n`` start positions x ``n`` for each unbounded
    variable repeat x ``(max - min + 1)`` for each bounded one x 2 per optional part.
    Possessive repeats (``*+``, ``++``) and atomic groups never backtrack: all of them
    together count as one unbounded repeat.
    """
    if len(pattern) > REGEX_MAX_PATTERN:
        raise InvalidRequest(f"a regex is limited to {REGEX_MAX_PATTERN} characters")
    try:
        parsed = _parser.parse(pattern)
    except re.error as exc:
        raise InvalidRequest(f"not a valid regex: {exc}") from None
    cost = _Cost()
    cost.walk(parsed.data, inside_repeat=False)
    unbounded = cost.unbounded + (1 if cost.possessive else 0)
    if cost.factor > REGEX_STEP_BUDGET:
        raise InvalidRequest("the regex has too many repeats and optional parts")
    room: float = (REGEX_STEP_BUDGET / cost.factor) ** (1 / (unbounded + 1))
    bound = min(math.floor(room), REGEX_MAX_INPUT)
    if bound < REGEX_MIN_INPUT and unbounded > 1:
        raise InvalidRequest(
            f"the regex has {unbounded} unbounded repeats that may backtrack: use at most one"
            " (make the others possessive: \\s*+ \\d++)"
        )
    if bound < REGEX_MIN_INPUT:
        raise InvalidRequest("the regex's repeats and optional parts may backtrack too much")
    return bound


class _Cost:
    def __init__(self) -> None:
        self.unbounded = 0
        self.possessive = False
        self.factor = 1.0

    def walk(self, items: list[Any], *, inside_repeat: bool) -> None:
        for op, av in items:
            self._one(op, av, inside_repeat)

    def _one(self, op: Any, av: Any, inside_repeat: bool) -> None:
        if op in (_c.GROUPREF, _c.GROUPREF_EXISTS):
            raise InvalidRequest("backreferences are not allowed in a regex")
        if op in (_c.MAX_REPEAT, _c.MIN_REPEAT):
            self._repeat(av, inside_repeat)
        elif op == _c.POSSESSIVE_REPEAT:
            self.possessive = True
            self.walk(av[2].data if hasattr(av[2], "data") else av[2], inside_repeat=True)
        elif op == _c.ATOMIC_GROUP:
            self.possessive = True
            self.walk(_items(av), inside_repeat=True)
        elif op == _c.SUBPATTERN:
            self.walk(_items(av[3]), inside_repeat=inside_repeat)
        elif op in (_c.ASSERT, _c.ASSERT_NOT):
            self.walk(_items(av[1]), inside_repeat=inside_repeat)
        elif op == _c.BRANCH:
            if inside_repeat:
                raise InvalidRequest("an alternation (a|b) inside a repeat may backtrack")
            self.factor *= len(av[1])
            for branch in av[1]:
                self.walk(_items(branch), inside_repeat=inside_repeat)

    def _repeat(self, av: Any, inside_repeat: bool) -> None:
        low, high, body = av
        variable = high != low
        if variable and inside_repeat:
            raise InvalidRequest("a repeat inside a repeat may backtrack: (a+)+ and the like")
        if high == _c.MAXREPEAT:
            self.unbounded += 1
        elif variable:
            self.factor *= high - low + 1
        self.walk(_items(body), inside_repeat=inside_repeat or variable)


def _items(node: Any) -> list[Any]:
    return list(node.data) if hasattr(node, "data") else list(node)
