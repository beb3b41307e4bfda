"""Reading request bodies: size-capped, and a JSON object or a clear 400 (``json_object``,
shared with the inbound formats)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from fastapi import Request
from pydantic import BaseModel, ValidationError

from orchestra.api.errors import validation_error
from orchestra.errors import InvalidRequest, PayloadTooLarge
from orchestra.formats.json_body import NOT_AN_OBJECT, json_object

__all__ = ["json_object", "read_body", "validated"]


async def read_body(request: Request, limit: int) -> bytes:
    """The raw body, refusing oversized ones before reading them where possible."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"Request body is larger than {limit} bytes")
    body = b""
    async for piece in request.stream():
        body += piece
        if len(body) > limit:
            raise PayloadTooLarge(f"Request body is larger than {limit} bytes")
    return body


M = TypeVar("M", bound=BaseModel)
Errors = Callable[[list[Any]], list[Any]]


def validated(model: type[M], body: bytes, first: Errors = list) -> M:
    """``body`` validated as ``model`` straight from JSON (one pass); broken JSON is a 400
    ``invalid_json``, a wrong field a 400 naming it (``first`` may rewrite pydantic's error
    list before the first error is reported)."""
    if not body.strip():
        raise InvalidRequest("Request body is empty: expected a JSON object")
    try:
        return model.model_validate_json(body)
    except ValidationError as exc:
        errors = exc.errors()
        if errors and errors[0].get("type") in ("json_invalid", "model_type"):
            raise InvalidRequest(NOT_AN_OBJECT, code="invalid_json") from exc
        raise validation_error(first(list(errors))) from exc
