"""The chain template language: ``{{ ref }}`` and ``{{ ref | filter }}``, nothing else.

A chain document comes from a client, so its templates must never reach Python: no
``eval``, no attribute access, no calls, no loops. A template is parsed once into a tiny
AST (literal text and expressions); an expression is a reference (a root name followed by
dict-key or list-index lookups) and a chain of named filters. Rendering looks keys up in
plain dicts and indices up in plain lists of the context, and does nothing else: a
``__class__`` is a missing key like any other (and names starting with ``_`` are refused at
parse time anyway).

Grammar::

    template   := (text | "{{" expr "}}")*
    expr       := ref ("|" filter)*
    ref        := name ("." (name | digits) | "[" digits "]")*
    name       := [A-Za-z][A-Za-z0-9_]*
    filter     := json | trim | upper | lower

A value that is a dict or a list renders as compact JSON, ``None`` as the empty string, a
boolean as ``true``/``false``. Output is capped (:data:`MAX_OUTPUT_BYTES`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from orchestra.errors import InvalidRequest, WorkflowFailed

#: the longest rendered text (UTF-8 bytes): a step's prompt is capped well above any
#: context window we route to, and a runaway map/fan-in cannot build megabyte prompts
MAX_OUTPUT_BYTES = 200_000
#: the longest template source, and the most expressions in one template
MAX_SOURCE_CHARS = 100_000
MAX_EXPRESSIONS = 200
#: the deepest lookup chain in one reference (``steps.a.output.x.y.0`` is 6)
MAX_LOOKUPS = 16

_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")
_DIGITS = re.compile(r"(0|[1-9][0-9]{0,8})\Z")
_SEGMENT = re.compile(r"\.([^.\[\]]*)|\[([^\]]*)\]")


def compact_json(value: Any) -> str:
    """The one JSON form chains print (no spaces, UTF-8 kept)."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)


def as_text(value: Any) -> str:
    """How a value reads inside text: strings as-is, ``None`` empty, the rest as JSON."""
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    return compact_json(value)


FILTERS: dict[str, Callable[[Any], Any]] = {
    "json": compact_json,
    "trim": lambda v: as_text(v).strip(),
    "upper": lambda v: as_text(v).upper(),
    "lower": lambda v: as_text(v).lower(),
}


@dataclass(frozen=True)
class Reference:
    """A root name and its lookups: ``steps.a.output[0]`` is ``("steps", ("a", "output", 0))``."""

    root: str
    keys: tuple[str | int, ...] = ()

    def __str__(self) -> str:
        return self.root + "".join(f"[{k}]" if isinstance(k, int) else f".{k}" for k in self.keys)

    def resolve(self, context: Mapping[str, Any]) -> Any:
        """Dict-key and list-index lookups only; anything else is a clear step error."""
        if self.root not in context:
            raise WorkflowFailed(f"template: '{self.root}' is not defined")
        value = context[self.root]
        for depth, key in enumerate(self.keys):
            value = _lookup(value, key, self._prefix(depth))
        return value

    def _prefix(self, depth: int) -> str:
        return str(Reference(self.root, self.keys[:depth]))


def _lookup(value: Any, key: str | int, where: str) -> Any:
    if isinstance(value, Mapping):
        name = str(key)
        if name not in value:
            raise WorkflowFailed(f"template: '{where}' has no key '{name}'")
        return value[name]
    if isinstance(value, list) and isinstance(key, int):
        if key >= len(value):
            raise WorkflowFailed(f"template: '{where}' has {len(value)} items, no [{key}]")
        return value[key]
    kind = "a list" if isinstance(value, list) else type(value).__name__
    raise WorkflowFailed(f"template: '{where}' is {kind}, cannot look up '{key}'")


@dataclass(frozen=True)
class Expression:
    ref: Reference
    filters: tuple[str, ...] = ()

    def evaluate(self, context: Mapping[str, Any]) -> Any:
        value = self.ref.resolve(context)
        for name in self.filters:
            value = FILTERS[name](value)
        return value


Node = str | Expression


@dataclass(frozen=True)
class Template:
    """A parsed template: render it as many times as needed, it never re-parses."""

    source: str
    nodes: tuple[Node, ...]

    def references(self) -> list[Reference]:
        """Every reference, in order: what the document's static check walks."""
        return [n.ref for n in self.nodes if isinstance(n, Expression)]

    def render(self, context: Mapping[str, Any]) -> str:
        """The text, every expression rendered; capped at :data:`MAX_OUTPUT_BYTES`."""
        parts: list[str] = []
        size = 0
        for node in self.nodes:
            text = node if isinstance(node, str) else as_text(node.evaluate(context))
            size += len(text.encode("utf-8"))
            if size > MAX_OUTPUT_BYTES:
                raise WorkflowFailed(
                    f"template: the rendered text exceeds {MAX_OUTPUT_BYTES} bytes",
                    code="template_too_large",
                )
            parts.append(text)
        return "".join(parts)

    def evaluate(self, context: Mapping[str, Any]) -> Any:
        """The value itself when the template is one bare expression (so a condition or an
        output keeps a list or a dict as such), else the rendered text."""
        if len(self.nodes) == 1 and isinstance(self.nodes[0], Expression):
            value = self.nodes[0].evaluate(context)
            if isinstance(value, str) and len(value.encode("utf-8")) > MAX_OUTPUT_BYTES:
                raise WorkflowFailed(
                    f"template: the rendered text exceeds {MAX_OUTPUT_BYTES} bytes",
                    code="template_too_large",
                )
            return value
        return self.render(context)


def parse(source: str) -> Template:
    """Parse ``source`` once; errors are :class:`InvalidRequest` (the document loader
    prefixes the path of the field)."""
    if not isinstance(source, str):
        raise InvalidRequest("a template must be a string")
    if len(source) > MAX_SOURCE_CHARS:
        raise InvalidRequest(f"a template is limited to {MAX_SOURCE_CHARS} characters")
    nodes: list[Node] = []
    position = 0
    while True:
        start = source.find("{{", position)
        if start < 0:
            _text(nodes, source[position:])
            break
        _text(nodes, source[position:start])
        end = source.find("}}", start + 2)
        if end < 0:
            raise InvalidRequest(f"unclosed '{{{{' at character {start}")
        nodes.append(parse_expression(source[start + 2 : end]))
        position = end + 2
    if sum(isinstance(n, Expression) for n in nodes) > MAX_EXPRESSIONS:
        raise InvalidRequest(f"a template is limited to {MAX_EXPRESSIONS} expressions")
    return Template(source, tuple(nodes))


def _text(nodes: list[Node], text: str) -> None:
    if "}}" in text:
        raise InvalidRequest("'}}' without an opening '{{'")
    if text:
        nodes.append(text)


def parse_expression(body: str) -> Expression:
    """``ref | filter | ...`` (the inside of ``{{ }}``)."""
    head, *filters = (part.strip() for part in body.split("|"))
    for name in filters:
        if name not in FILTERS:
            raise InvalidRequest(
                f"unknown filter '{name}' in '{{{{{body}}}}}' (filters: {', '.join(FILTERS)})"
            )
    return Expression(parse_reference(head), tuple(filters))


def parse_reference(text: str) -> Reference:
    """``root(.key|.0|[0])*``: names and indices only; no calls, no ``_private`` names."""
    text = text.strip()
    match = re.match(r"[A-Za-z][A-Za-z0-9_]*", text)
    if not match or not text:
        raise InvalidRequest(f"'{text}' is not a reference (expected e.g. inputs.topic)")
    keys: list[str | int] = []
    position = match.end()
    while position < len(text):
        segment = _SEGMENT.match(text, position)
        if not segment:
            raise InvalidRequest(f"'{text}' is not a reference (unexpected '{text[position:]}')")
        keys.append(_key(segment.group(1), segment.group(2), text))
        position = segment.end()
    if len(keys) > MAX_LOOKUPS:
        raise InvalidRequest(f"'{text}' has more than {MAX_LOOKUPS} lookups")
    return Reference(match.group(0), tuple(keys))


def _key(dotted: str | None, bracketed: str | None, text: str) -> str | int:
    if bracketed is not None:
        if not _DIGITS.match(bracketed.strip()):
            raise InvalidRequest(f"'{text}': only a list index may go in [] (got '{bracketed}')")
        return int(bracketed.strip())
    assert dotted is not None
    if _DIGITS.match(dotted):
        return int(dotted)
    if not _NAME.match(dotted):
        raise InvalidRequest(
            f"'{text}': '{dotted}' is not a key (letters, digits and _, not starting with _)"
        )
    return dotted
