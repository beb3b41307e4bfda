"""The one place errors become HTTP: OpenAI's error shape, a fitting status, no internals."""

from __future__ import annotations

import logging
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


def error_response(error: OrchestraError, redactor: Redactor | None = None) -> JSONResponse:
    headers: dict[str, str] = {}
    retry_after = getattr(error, "retry_after", None)
    if retry_after is not None and error.status in (429, 503):
        headers["retry-after"] = str(max(int(retry_after + 0.999), 1))
    if isinstance(error, AllCandidatesFailed | AllModelsFailed):
        headers["x-orchestra-attempts"] = ";".join(a.header_value() for a in error.attempts)
    body = error.to_body()
    if redactor is not None:
        body["error"]["message"] = redactor.scrub(body["error"]["message"])
    return JSONResponse(body, status_code=error.status, headers=headers)


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


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(OrchestraError)
    async def _orchestra(request: Request, exc: OrchestraError) -> JSONResponse:
        if exc.status >= 500:
            log.warning("request failed: %s (%s)", exc.code, exc.status)
        return error_response(exc, request.app.state.services.redactor)

    @app.exception_handler(RequestValidationError)
    async def _request_validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(validation_error(list(exc.errors())))

    @app.exception_handler(ValidationError)
    async def _validation(_: Request, exc: ValidationError) -> JSONResponse:
        return error_response(validation_error(list(exc.errors())))

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        kind, code = _STATUS_TYPES.get(exc.status_code, ("invalid_request_error", "http_error"))
        body = error_envelope(str(exc.detail), kind, code)
        return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(ClientDisconnect)
    async def _client_gone(request: Request, _: ClientDisconnect) -> Response:
        # A client may leave mid-upload: normal, one line, and nobody to answer
        log.info("client disconnected during %s %s", request.method, request.url.path)
        return Response(status_code=CLIENT_CLOSED)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        message = "The server had an error while processing your request."
        body = error_envelope(message, "server_error", "internal_error")
        return JSONResponse(body, status_code=500)
