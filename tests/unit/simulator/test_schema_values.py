"""Values for JSON schemas (tool arguments, structured answers) validate against them."""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest

from orchestra.simulator.schema_values import SchemaValues

SCHEMAS: dict[str, dict[str, Any]] = {
    "flat": {
        "type": "object",
        "properties": {
            "city": {"type": "string", "minLength": 2},
            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            "days": {"type": "integer", "minimum": 3, "maximum": 7},
            "ratio": {"type": "number", "exclusiveMaximum": 0.5},
            "exact": {"type": "boolean"},
            "note": {"type": ["string", "null"], "maxLength": 4},
        },
        "required": ["city", "unit", "days", "ratio", "exact", "note"],
        "additionalProperties": False,
    },
    "nested": {
        "type": "object",
        "properties": {
            "filters": {
                "type": "array",
                "minItems": 2,
                "items": {
                    "type": "object",
                    "properties": {"field": {"type": "string"}, "value": {"const": "x"}},
                    "required": ["field", "value"],
                },
            },
            "when": {"type": "string", "format": "date-time"},
            "choice": {"anyOf": [{"type": "null"}, {"type": "integer", "minimum": 5}]},
        },
        "required": ["filters", "when", "choice"],
    },
    "refs": {  # pydantic's shape: $defs and $ref
        "$defs": {"Step": {"type": "object", "properties": {"text": {"type": "string"}}}},
        "type": "object",
        "properties": {"steps": {"type": "array", "items": {"$ref": "#/$defs/Step"}}},
        "required": ["steps"],
    },
    "recursive": {
        "$defs": {
            "Node": {
                "type": "object",
                "properties": {"children": {"type": "array", "items": {"$ref": "#/$defs/Node"}}},
            }
        },
        "$ref": "#/$defs/Node",
    },
}


@pytest.mark.parametrize("name", SCHEMAS)
def test_the_value_validates_against_its_schema(name: str) -> None:
    schema = SCHEMAS[name]
    value = SchemaValues(schema, lambda prop: f"text for {prop}").value()
    jsonschema.validate(value, schema)


def test_required_properties_are_filled_deterministically() -> None:
    # Given a schema with typed required properties and one optional property
    schema = {
        "type": "object",
        "properties": {
            "q": {"type": "string"},
            "n": {"type": "integer"},
            "x": {"type": "number"},
            "ok": {"type": "boolean"},
            "mode": {"enum": ["fast", "slow"]},
            "optional": {"type": "string"},
        },
        "required": ["q", "n", "x", "ok", "mode"],
    }
    # When it is filled twice, Then strings come from the source, numbers are 1, booleans
    # true, enums their first value, and the optional property is left out
    values = [SchemaValues(schema, lambda prop: "Paris").value() for _ in range(2)]
    assert values[0] == values[1] == {"q": "Paris", "n": 1, "x": 1, "ok": True, "mode": "fast"}


def test_without_a_string_source_a_string_is_its_property_name() -> None:
    schema = {"type": "object", "properties": {"city": {"type": "string"}}}
    assert SchemaValues(schema, lambda prop: "").value() == {"city": "city"}
