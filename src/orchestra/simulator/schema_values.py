"""A value for a JSON schema: the simulator's tool arguments and structured answers.

Deterministic and valid for the schemas tools and ``response_format`` use in practice:
``type`` (or a list of types), ``enum``/``const``, ``anyOf``/``oneOf``/``allOf``, local
``$ref`` (``#/$defs/...``, ``#/definitions/...``), objects (required properties, or every
property when none is required), arrays (``minItems`` items), strings (``minLength``,
``maxLength`` and the common ``format`` values), numbers within their bounds. ``pattern``
is not honoured. Recursion stops at :data:`MAX_DEPTH`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

MAX_DEPTH = 6
#: a string for a property, by the property's name ("" for an unnamed value)
Strings = Callable[[str], str]

FORMATS = {
    "date": "2025-01-01",
    "date-time": "2025-01-01T00:00:00Z",
    "time": "00:00:00Z",
    "email": "user@example.com",
    "uri": "https://example.com/",
    "url": "https://example.com/",
    "uuid": "00000000-0000-4000-8000-000000000000",
}


class SchemaValues:
    """Values for the schemas of one document (``root`` resolves its ``$ref``)."""

    def __init__(self, root: dict[str, Any], strings: Strings) -> None:
        self.root = root
        self.strings = strings

    def value(self, schema: Any = None, name: str = "", depth: int = 0) -> Any:
        schema = self._resolve(self.root if schema is None else schema)
        if not isinstance(schema, dict):
            return self.strings(name)
        if "const" in schema:
            return schema["const"]
        if schema.get("enum"):
            return schema["enum"][0]
        for key in ("anyOf", "oneOf", "allOf"):
            options = [self._resolve(o) for o in schema.get(key) or []]
            options = [o for o in options if isinstance(o, dict) and o.get("type") != "null"]
            if options:
                return self.value(_merged(schema, key, options[0]), name, depth)
        return self._typed(schema, _type_of(schema), name, depth)

    def _typed(self, schema: dict[str, Any], kind: str, name: str, depth: int) -> Any:
        if kind == "object":
            return self._object(schema, depth)
        if kind == "array":
            return self._array(schema, name, depth)
        if kind in ("integer", "number"):
            return _number(schema, integer=kind == "integer")
        if kind == "boolean":
            return True
        if kind == "null":
            return None
        return self._string(schema, name)

    def _object(self, schema: dict[str, Any], depth: int) -> dict[str, Any]:
        properties = schema.get("properties") or {}
        if depth >= MAX_DEPTH:
            return {}
        names = [n for n in schema.get("required") or [] if n in properties] or list(properties)
        return {n: self.value(properties[n], n, depth + 1) for n in names}

    def _array(self, schema: dict[str, Any], name: str, depth: int) -> list[Any]:
        count = max(int(schema.get("minItems", 1)), 0)
        if "maxItems" in schema:
            count = min(count, int(schema["maxItems"]))
        if depth >= MAX_DEPTH:
            count = int(schema.get("minItems", 0))
        prefix = schema.get("prefixItems") or []
        items = [self.value(s, name, depth + 1) for s in prefix[:count]]
        item = schema.get("items")
        if isinstance(item, dict) or len(items) < count:
            items += [self.value(item or {}, name, depth + 1) for _ in range(count - len(items))]
        return items

    def _string(self, schema: dict[str, Any], name: str) -> str:
        text = FORMATS.get(str(schema.get("format")), "") or self.strings(name) or name or "x"
        low, high = int(schema.get("minLength", 0)), schema.get("maxLength")
        if len(text) < low:
            text = (text + " ") * (low // (len(text) + 1) + 1)
        return text if high is None else text[: int(high)]

    def _resolve(self, schema: Any) -> Any:
        for _ in range(MAX_DEPTH):
            ref = schema.get("$ref") if isinstance(schema, dict) else None
            if not isinstance(ref, str) or not ref.startswith("#/"):
                return schema
            target: Any = self.root
            for part in ref[2:].split("/"):
                target = target.get(part) if isinstance(target, dict) else None
            schema = target if isinstance(target, dict) else {}
        return schema


def _type_of(schema: dict[str, Any]) -> str:
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if isinstance(kind, str):
        return kind
    if "properties" in schema:
        return "object"
    return "array" if "items" in schema else "string"


def _merged(schema: dict[str, Any], key: str, option: dict[str, Any]) -> dict[str, Any]:
    """The schema with its ``key`` alternatives replaced by the chosen ``option``."""
    merged = {k: v for k, v in schema.items() if k != key}
    merged.update(option)
    return merged


def _number(schema: dict[str, Any], *, integer: bool) -> int | float:
    value = 1.0
    if "minimum" in schema:
        value = max(value, float(schema["minimum"]))
    if "exclusiveMinimum" in schema:
        value = max(value, float(schema["exclusiveMinimum"]) + 1)
    if "maximum" in schema:
        value = min(value, float(schema["maximum"]))
    if "exclusiveMaximum" in schema:
        value = min(value, float(schema["exclusiveMaximum"]) - (1 if integer else 0.5))
    return int(value) if integer or value.is_integer() else value
