"""A request body as a JSON object, or a clear 400: the one reader every format shares
(``api/body.py`` re-exports it for the routes)."""

from __future__ import annotations

from typing import Any

import pydantic_core

from orchestra.errors import InvalidRequest

NOT_AN_OBJECT = "We could not parse the JSON body of your request: expected a JSON object"


def json_object(body: bytes) -> dict[str, Any]:
    if not body.strip():
        raise InvalidRequest("Request body is empty: expected a JSON object")
    try:
        value = pydantic_core.from_json(body)
    except ValueError as exc:  # malformed, or nested deeper than the parser allows
        raise InvalidRequest(NOT_AN_OBJECT, code="invalid_json") from exc
    if not isinstance(value, dict):
        raise InvalidRequest(NOT_AN_OBJECT, code="invalid_json")
    return value
