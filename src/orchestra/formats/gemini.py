"""Gemini's ``generateContent``, inbound: ``POST /v1beta/models/{model}:generateContent``
and ``:streamGenerateContent`` as google-genai sends them, and Google's answers and errors."""

from __future__ import annotations

from typing import Any

#: Google's canonical status names, by HTTP status
STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    405: "INVALID_ARGUMENT",
    409: "ALREADY_EXISTS",
    413: "INVALID_ARGUMENT",
    422: "INVALID_ARGUMENT",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    500: "INTERNAL",
    501: "UNIMPLEMENTED",
    502: "UNAVAILABLE",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


def error_body(
    status: int, kind: str, code: str, message: str, param: str | None
) -> tuple[int, dict[str, Any]]:
    """Google's error shape ``{"error": {"code", "message", "status", "details"}}``: the
    offending field as a ``BadRequest`` field violation, Orchestra's code as ``ErrorInfo``."""
    if status == 422:
        status = 400
    details: list[dict[str, Any]] = [
        {
            "@type": "type.googleapis.com/google.rpc.ErrorInfo",
            "reason": code.upper(),
            "domain": "orchestra",
        }
    ]
    if param:
        details.append(
            {
                "@type": "type.googleapis.com/google.rpc.BadRequest",
                "fieldViolations": [{"field": param, "description": message}],
            }
        )
    error = {
        "code": status,
        "message": message,
        "status": STATUS_NAMES.get(status, "UNKNOWN" if status < 500 else "INTERNAL"),
        "details": details,
    }
    return status, {"error": error}
