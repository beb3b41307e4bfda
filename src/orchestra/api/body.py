"""Reading request bodies: size-capped, and a JSON object or a clear 400."""

from __future__ import annotations

from typing import Any

import pydantic_core
from fastapi import Request

from orchestra.errors import InvalidRequest, PayloadTooLarge


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


def json_object(body: bytes) -> dict[str, Any]:
    if not body.strip():
        raise InvalidRequest("Request body is empty: expected a JSON object")
    try:
        value = pydantic_core.from_json(body)
    except (ValueError, RecursionError) as exc:
        raise InvalidRequest(
            "We could not parse the JSON body of your request: expected a JSON object",
            code="invalid_json",
        ) from exc
    if not isinstance(value, dict):
        raise InvalidRequest(
            "We could not parse the JSON body of your request: expected a JSON object",
            code="invalid_json",
        )
    return value
