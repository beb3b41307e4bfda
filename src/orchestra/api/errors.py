"""The one place errors become HTTP: the client's error shape, a fitting status, no internals.

The shape follows the path's inbound format (:func:`shape_for`): OpenAI's everywhere,
Anthropic's under ``/v1/messages``, Google's under ``/v1beta/`` (and ``/v1/models/<model>:<method>``); the status may change with
it (Anthropic says 529 for overloaded).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from orchestra.errors import (
    AllCandidatesFailed,
    AllModelsFailed,
    InvalidRequest,
    OrchestraError,
    error_envelope,
)
from orchestra.redaction import Redactor

log = logging.getLogger("orchestra.api")

#: nginx's "client closed request": what the access log shows for a client that left
CLIENT_CLOSED = 499

_STATUS_TYPES = {
    401: ("authentication_error", "invalid_api_key"),
    404: ("invalid_request_error", "not_found"),
    405: ("invalid_request_error", "method_not_allowed"),
    413: ("invalid_request_error", "payload_too_large"),
}


#: (status, OpenAI type, code, message, param) -> (status, body) in a client's format
ErrorShape = Callable[[int, str, str, str, "str | None"], tuple[int, dict[str, Any]]]


def openai_shape(
    status: int, kind: str, code: str, message: str, param: str | None
) -> tuple[int, dict[str, Any]]:
    return status, error_envelope(message, kind, code, param)


def shape_for(path: str) -> ErrorShape:
    """The error shape of the inbound format served at ``path``."""
    if path.startswith("/v1/messages"):
        from orchestra.formats.anthropic import error_body

        return error_body
    if path.startswith(("/v1beta/", "/v1/models/")):
        from orchestra.formats.gemini import error_body as gemini_body
        from orchestra.formats.gemini import serves

        if serves(path):
            return gemini_body
    return openai_shape


def error_response(
    error: OrchestraError,
    redactor: Redactor | None = None,
    shape: ErrorShape = openai_shape,
) -> JSONResponse:
    headers: dict[str, str] = {}
    retry_after = getattr(error, "retry_after", None)
    if retry_after is not None and error.status in (429, 503):
        headers["retry-after"] = str(max(int(retry_after + 0.999), 1))
    headers.update(getattr(error, "headers", None) or {})  # a policy's x-ratelimit-*
    if isinstance(error, AllCandidatesFailed | AllModelsFailed):
        headers["x-orchestra-attempts"] = ";".join(a.header_value() for a in error.attempts)
    message = redactor.scrub(error.message) if redactor is not None else error.message
    status, body = shape(error.status, error.type, error.code, message, error.param)
    return JSONResponse(body, status_code=status, headers=headers)


def validation_error(errors: list[Any]) -> InvalidRequest:
    """A pydantic error list as one clear 400, naming the first offending parameter."""
    first = errors[0] if errors else {}
    loc = [str(p) for p in first.get("loc", ()) if p not in ("body",)]
    param = ".".join(loc) or None
    message = str(first.get("msg", "Invalid request")).removeprefix("Value error, ")
    if first.get("type") == "missing":
        message = f"Missing required parameter: '{param}'"
    elif param:
        message = f"Invalid value for '{param}': {message}"
    return InvalidRequest(message, param=param, code="invalid_value")


def allowed_methods(request: Request, known: set[str]) -> str:
    """Every method the API documents at this path, for a 405's ``Allow``: Starlette names
    only the first matching route's, and a path may have one route per method
    (``/v1/admin/keys``). Read from the OpenAPI document (built once; a 405 is rare).
    A path documented literally is that path's methods alone, though a template matches it
    too (``POST /v1/chains/runs`` beside ``/v1/chains/{name}``, which names no chain "runs")."""
    path = request.url.path
    paths = request.app.openapi().get("paths", {})
    if path in paths:
        return ", ".join(sorted(m.upper() for m in paths[path] if m.isalpha()))
    methods = set(known)
    for template, operations in paths.items():
        pattern = re.sub(r"\{[^}:]+:path\}", ".+", template)
        pattern = re.sub(r"\{[^}]+\}", "[^/]+", pattern)
        if re.fullmatch(pattern, path):
            methods |= {m.upper() for m in operations if m.isalpha()}
    return ", ".join(sorted(methods))


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(OrchestraError)
    async def _orchestra(request: Request, exc: OrchestraError) -> JSONResponse:
        if exc.status >= 500:
            log.warning("request failed: %s (%s)", exc.code, exc.status)
        shape = shape_for(request.url.path)
        return error_response(exc, request.app.state.services.redactor, shape)

    @app.exception_handler(RequestValidationError)
    async def _request_validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        error = validation_error(list(exc.errors()))
        return error_response(error, shape=shape_for(request.url.path))

    @app.exception_handler(ValidationError)
    async def _validation(request: Request, exc: ValidationError) -> JSONResponse:
        error = validation_error(list(exc.errors()))
        return error_response(error, shape=shape_for(request.url.path))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        kind, code = _STATUS_TYPES.get(exc.status_code, ("invalid_request_error", "http_error"))
        shape = shape_for(request.url.path)
        status, body = shape(exc.status_code, kind, code, str(exc.detail), None)
        headers = exc.headers
        if exc.status_code == 405:
            given = {k.lower(): v for k, v in (headers or {}).items()}
            first = {m.strip() for m in given.pop("allow", "").split(",") if m.strip()}
            headers = {**given, "allow": allowed_methods(request, first)}
        return JSONResponse(body, status_code=status, headers=headers)

    @app.exception_handler(ClientDisconnect)
    async def _client_gone(request: Request, _: ClientDisconnect) -> Response:
        # A client may leave mid-upload: normal, one line, and nobody to answer
        log.info("client disconnected during %s %s", request.method, request.url.path)
        return Response(status_code=CLIENT_CLOSED)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        message = "The server had an error while processing your request."
        _, body = shape_for(request.url.path)(500, "server_error", "internal_error", message, None)
        return JSONResponse(body, status_code=500)
