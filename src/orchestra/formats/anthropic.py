"""Anthropic Messages, inbound: ``POST /v1/messages`` as Claude Code and the Anthropic SDK
send it, and the answers, streams and errors they expect back."""

from __future__ import annotations

from typing import Any

#: the HTTP statuses Anthropic answers with, by its error ``type``
ERROR_TYPES_BY_STATUS = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    422: "invalid_request_error",
    429: "rate_limit_error",
    504: "timeout_error",
    529: "overloaded_error",
}


def error_body(
    status: int, kind: str, code: str, message: str, param: str | None
) -> tuple[int, dict[str, Any]]:
    """Anthropic's error shape ``{"type": "error", "error": {"type", "message"}}`` and its
    status: every "overloaded" (503) is Anthropic's 529."""
    if status == 503:
        status = 529
    if status == 422:
        status = 400
    error_type = ERROR_TYPES_BY_STATUS.get(status, "api_error")
    return status, {"type": "error", "error": {"type": error_type, "message": message}}
