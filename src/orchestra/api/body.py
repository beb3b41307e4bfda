"""Reading request bodies: size-capped, and a JSON object or a clear 400 (``json_object``,
shared with the inbound formats)."""

from __future__ import annotations

from fastapi import Request

from orchestra.errors import PayloadTooLarge
from orchestra.formats.json_body import json_object

__all__ = ["json_object", "read_body"]


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
