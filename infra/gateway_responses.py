"""API Gateway's own answers, in OpenAI's error shape like everything else.

API Gateway answers some requests before (or instead of) any function: a missing or wrong
key (the authorizer), throttling and quotas (usage plans), unknown routes, timeouts. Its
default body is ``{"message": ...}``, which OpenAI clients cannot read. The CDK stack
installs these templates as gateway responses, so every error keeps one shape.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from orchestra.errors import error_envelope

#: API Gateway's own message, already a quoted JSON string
CONTEXT_MESSAGE = "$context.error.messageString"
_SLOT = "\u0000message\u0000"


@dataclass(frozen=True)
class GatewayResponse:
    #: the status to answer with; None keeps API Gateway's own (the DEFAULT_* families)
    status: int | None
    type: str
    code: str
    #: a fixed message, or None for API Gateway's own (``$context.error.messageString``)
    message: str | None = None
    #: seconds for a ``Retry-After`` header (throttling)
    retry_after: int | None = None

    def template(self) -> str:
        """The ``application/json`` mapping template API Gateway renders."""
        if self.message is not None:
            return json.dumps(error_envelope(self.message, self.type, self.code))
        # API Gateway's message is already a quoted JSON string: put it in unquoted
        body = json.dumps(error_envelope(_SLOT, self.type, self.code))
        return body.replace(json.dumps(_SLOT), CONTEXT_MESSAGE, 1)


BEARER_HINT = "send 'Authorization: Bearer <key>'"

#: API Gateway ``ResponseType`` name -> how it answers
GATEWAY_RESPONSES: dict[str, GatewayResponse] = {
    "UNAUTHORIZED": GatewayResponse(
        401,
        "authentication_error",
        "invalid_api_key",
        f"Missing or incorrect API key: {BEARER_HINT}",
    ),
    "INVALID_API_KEY": GatewayResponse(
        401,
        "authentication_error",
        "invalid_api_key",
        "This API key is not enabled for any usage plan",
    ),
    "ACCESS_DENIED": GatewayResponse(403, "permission_error", "access_denied"),
    "MISSING_AUTHENTICATION_TOKEN": GatewayResponse(
        404, "invalid_request_error", "not_found", "Unknown route: see /v1/chat/completions"
    ),
    "THROTTLED": GatewayResponse(
        429, "rate_limit_error", "rate_limit_exceeded", "Rate limit reached: slow down", 1
    ),
    "QUOTA_EXCEEDED": GatewayResponse(
        429, "insufficient_quota", "insufficient_quota", "Request quota for this key exhausted"
    ),
    "REQUEST_TOO_LARGE": GatewayResponse(413, "invalid_request_error", "payload_too_large"),
    "BAD_REQUEST_BODY": GatewayResponse(400, "invalid_request_error", "invalid_value"),
    "BAD_REQUEST_PARAMETERS": GatewayResponse(400, "invalid_request_error", "invalid_value"),
    "INTEGRATION_TIMEOUT": GatewayResponse(
        504, "server_error", "timeout", "The request took too long: try a faster profile"
    ),
    "AUTHORIZER_FAILURE": GatewayResponse(
        503, "server_error", "service_unavailable", "Could not check the API key: try again"
    ),
    "AUTHORIZER_CONFIGURATION_ERROR": GatewayResponse(
        503, "server_error", "service_unavailable", "Could not check the API key: try again"
    ),
    "DEFAULT_4XX": GatewayResponse(None, "invalid_request_error", "invalid_request"),
    "DEFAULT_5XX": GatewayResponse(None, "server_error", "internal_error", "Internal error"),
}
