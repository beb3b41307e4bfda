"""Which Lambda events the API functions answer: API Gateway proxy requests, REST or HTTP API.

Both ways out of :class:`~orchestra.aws_lambda.app.LambdaApp` (Mangum whole, or streamed)
start from Mangum's translation of a REST (v1, or HTTP API payload 1.0) or HTTP API (v2)
proxy event into an ASGI scope. Anything else is the caller's mistake, not the gateway's:
a console test event, a scheduled event, an ALB or Lambda@Edge request (Mangum would serve
those buffered but not streamed; the API functions sit behind API Gateway only), or a proxy
event missing the pieces the translation reads. :func:`scope_and_body` says which, as an
:class:`UnsupportedEvent` the app answers with a 400, never as a ``KeyError`` deep in Mangum.
"""

from __future__ import annotations

from typing import Any

from orchestra.api.auth import PRINCIPAL_SCOPE_KEY, event_principal

#: what every refusal's message ends with
EXPECTED_EVENT = "expected an API Gateway proxy request (REST v1 or HTTP API v2)"


class UnsupportedEvent(ValueError):
    """Not an API Gateway proxy request (REST v1 or HTTP API v2) this app can serve."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason

    @property
    def message(self) -> str:
        """The client-facing message: what was expected and why this is not it."""
        return f"unsupported event: {self.reason}; {EXPECTED_EVENT}"


def why_unsupported(event: Any) -> str | None:
    """Why ``event`` is not a proxy request with the pieces the translation needs, or None.

    The shapes Mangum tells apart: ``version`` ``"2.0"`` is HTTP API v2 (method, path and
    source address in ``requestContext.http``); any other ``version``, or a ``resource``,
    is the REST layout (``httpMethod`` and ``path`` at the top).
    """
    if not isinstance(event, dict) or "requestContext" not in event:
        return "no requestContext"
    context = event["requestContext"]
    if not isinstance(context, dict):
        return "requestContext is not an object"
    if "elb" in context:
        return "an Application Load Balancer request"
    if event.get("version") == "2.0":
        http = context.get("http")
        if not isinstance(http, dict):
            return "an HTTP API (v2) request without requestContext.http"
        kind = "an HTTP API (v2) request"
        needed = ("method", "path", "sourceIp")
        missing = [f"requestContext.http.{k}" for k in needed if not isinstance(http.get(k), str)]
    elif "version" in event or "resource" in event:
        kind = "a REST (v1) request"
        missing = [k for k in ("httpMethod", "path") if not isinstance(event.get(k), str)]
    else:
        return "no version or resource"
    return f"{kind} without {', '.join(missing)}" if missing else None


def scope_and_body(event: Any, context: Any) -> tuple[dict[str, Any], bytes]:
    """Mangum's own translation of a REST v1 or HTTP API v2 proxy event.

    The scope also carries the authorizer's ``principalId`` (the client's name) under
    ``orchestra.principal`` (None when the event has none): the key id governance counts
    against when the app trusts the gateway's authorizer.

    Raises :class:`UnsupportedEvent` for any other event, and for a proxy event whose
    other parts (headers, query, body, identity) the translation cannot read.
    """
    from mangum.handlers import APIGateway, HTTPGateway
    from mangum.types import LambdaConfig

    reason = why_unsupported(event)
    if reason is not None:
        raise UnsupportedEvent(reason)
    config = LambdaConfig(api_gateway_base_path="/", text_mime_types=["text/"], exclude_headers=[])
    for kind in (HTTPGateway, APIGateway):
        if kind.infer(event, context, config):
            handler = kind(event, context, config)
            try:
                scope = dict(handler.scope)
                # the authorizer's principalId: whom budgets and spend count against
                scope[PRINCIPAL_SCOPE_KEY] = event_principal(event)
                return scope, handler.body
            except (KeyError, TypeError, AttributeError, ValueError) as exc:
                # named by type only: the event's content is the client's, not for the logs
                raise UnsupportedEvent(
                    f"a malformed proxy request ({type(exc).__name__})"
                ) from None
    raise UnsupportedEvent("no version or resource")  # pragma: no cover
