"""Running the FastAPI app on Lambda behind API Gateway (REST v1 or HTTP API v2).

Two ways out: :meth:`LambdaApp.__call__` returns the response whole (Mangum; the managed
runtime's client posts it), :meth:`LambdaApp.stream` writes it as it is produced (the
streaming runtime in :mod:`orchestra.aws_lambda.runtime_api`, behind ``responseTransferMode: STREAM``).
Both run the same app on the same loop with the same services.

The module imports almost nothing: settings, services, the app and Mangum are built on the
first invocation and kept for the life of the execution environment, so warm invocations
reuse the upstream connections, the breaker cache and the catalog. A build that fails
(a missing secret, a bad table name) answers an OpenAI-shaped 503 and is retried on the
next invocation instead of leaving a broken environment behind.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from orchestra.aws_lambda.events import UnsupportedEvent, scope_and_body, why_unsupported
from orchestra.errors import OrchestraError, error_envelope

log = logging.getLogger("orchestra")

if TYPE_CHECKING:
    from orchestra.aws_lambda.runtime_api.http_stream import Write

Adapter = Callable[[dict[str, Any], Any], dict[str, Any]]


def error_response(status: int, message: str, code: str, kind: str) -> dict[str, Any]:
    """An API Gateway proxy response carrying OpenAI's error shape."""
    body = error_envelope(message, kind, code)
    return {
        "statusCode": status,
        "headers": {"content-type": "application/json"},
        "body": json.dumps(body),
        "isBase64Encoded": False,
    }


class EnvironmentLoop:
    """One event loop and one set of services for the life of an execution environment,
    so connection pools (bound to their loop) survive between warm invocations."""

    _loop: asyncio.AbstractEventLoop | None = None
    _services: Any = None

    def _use_own_loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None or self._loop.is_closed():
            self._loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self._loop)
        return self._loop

    def close(self) -> None:
        """Release upstream connections and the loop (tests; Lambda just freezes)."""
        loop = self._loop
        if loop is not None and not loop.is_closed() and not loop.is_running():
            if self._services is not None:
                loop.run_until_complete(self._services.aclose())
            loop.close()
        self._services = None


class LambdaApp(EnvironmentLoop):
    """One lazily built Mangum adapter per execution environment."""

    def __init__(
        self,
        *,
        metrics: Any = None,
        routers: Callable[[], Sequence[Any]] | None = None,
        environ: Mapping[str, str] | None = None,
        root: str | None = None,
        tracer: Any = None,
    ) -> None:
        self.metrics = metrics
        #: Powertools' Tracer where tracing is on: answers annotate its segment
        self.tracer = tracer
        self.routers = routers
        self.environ = environ
        #: the function's composition root (``orchestra.compose.ROOTS``); None: everything
        self.root = root
        self._adapter: Adapter | None = None
        self._asgi: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._services: Any = None

    def close(self) -> None:
        super().close()
        self._adapter = self._asgi = None

    def prewarm(self) -> None:
        """Import and warm everything that needs no network (before a SnapStart snapshot)."""
        import mangum  # noqa: F401

        from orchestra.api.app import default_routers
        from orchestra.catalog.models import load_snapshot
        from orchestra.compose.roots import ROOTS, root
        from orchestra.schemas.chat import ChatRequest

        if self.routers:
            self.routers()
        else:
            default_routers()
        for name in [self.root] if self.root else ROOTS:
            root(name)  # imports the use cases it builds; builds nothing
        load_snapshot()
        _import_aws_clients()
        ChatRequest.model_validate(
            {"model": "auto", "messages": [{"role": "user", "content": "hi"}]}
        )
        _complete_deferred()

    def before_snapshot(self) -> None:
        """Nothing with a connection or a credential may be in the snapshot."""
        if self._adapter is not None:
            log.warning("app built before the snapshot: discarding it")
            self.close()

    def after_restore(self) -> None:
        """Fresh random state, no inherited clients, secrets or loop."""
        import random

        from aws_lambda_powertools.utilities import parameters

        random.seed()
        parameters.clear_caches()  # type: ignore[no-untyped-call]
        self.close()
        self._loop = None

    def build(self) -> Adapter:
        from mangum import Mangum

        from orchestra.api.app import create_app
        from orchestra.compose.heap import settle_heap
        from orchestra.compose.roots import build_services, root
        from orchestra.config import Settings
        from orchestra.observability import EmfObserver, LogObserver, Observer, Observers

        settings = Settings()
        observer: Observer = EmfObserver(self.metrics) if self.metrics else LogObserver()
        if self.tracer is not None:  # the GenAI attributes as X-Ray annotations
            from orchestra.telemetry.xray import XRayAnnotations

            observer = Observers(observer, XRayAnnotations(self.tracer))
        environ = self.environ if self.environ is not None else os.environ
        build = root(self.root) if self.root else build_services
        services = build(settings, environ, observer=observer)
        self._services = services
        routers = list(self.routers()) if self.routers else None
        self._asgi = create_app(services, routers)
        adapter: Adapter = Mangum(self._asgi, lifespan="off")
        settle_heap(settings.gc_tuning)
        return adapter

    def __call__(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        self._use_own_loop()
        response = self._respond(event, context)
        headers = {k.lower(): v for k, v in (response.get("headers") or {}).items()}
        self._handled(event, int(response.get("statusCode") or 500), headers)
        return response

    def stream(self, event: dict[str, Any], context: Any, write: Write) -> None:
        """Answer ``event`` by writing the streamed proxy format to ``write``."""
        loop = self._use_own_loop()
        status, headers = loop.run_until_complete(self._stream(event, context, write))
        self._handled(event, status, headers)

    async def _stream(
        self, event: dict[str, Any], context: Any, write: Write
    ) -> tuple[int, dict[str, str]]:
        from orchestra.aws_lambda.runtime_api.http_stream import serve

        refusal = self._not_ready(event, context)
        if refusal is None:
            try:
                served = await serve(self._asgi, event, context, write)
                return served.status, served.headers
            except UnsupportedEvent as exc:  # parts the translation could not read
                refusal = _unsupported(exc)
            except Exception:  # the app answers its own errors; a last line, no trace out
                log.exception("could not handle the event")
                refusal = error_response(500, "internal error", "internal_error", "server_error")
        write(streamed_error(refusal))
        return int(refusal["statusCode"]), dict(refusal["headers"])

    def _respond(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        refusal = self._not_ready(event, context)
        if refusal is not None:
            return refusal
        assert self._adapter is not None
        try:
            return self._adapter(event, context)
        except Exception:  # the app answers its own errors; this is a last line, no trace out
            try:  # Mangum's translation failed on the event's parts: the caller's mistake
                scope_and_body(event, context)
            except UnsupportedEvent as exc:
                return _unsupported(exc)
            log.exception("could not handle the event")
            message = "internal error"
            return error_response(500, message, "internal_error", "server_error")

    def _not_ready(self, event: Any, context: Any) -> dict[str, Any] | None:
        """Build the app on the first invocation; the error answer if that fails or the event
        is plainly not a proxy request.

        Both ways out refuse the same events: what :func:`why_unsupported` names here, and
        what :func:`scope_and_body` cannot translate where each way translates it (so no
        request is translated twice)."""
        if self._adapter is None:
            try:
                self._adapter = self.build()
            except OrchestraError as exc:
                log.error("start-up failed: %s", exc.message)
                message = "the gateway is not ready: " + exc.message
                return error_response(503, message, "service_unavailable", "server_error")
            except Exception:
                log.exception("start-up failed")
                message = "the gateway is not ready"
                return error_response(503, message, "service_unavailable", "server_error")
        reason = why_unsupported(event)
        # e.g. a console test event, a non-HTTP invocation of an API function, an ALB
        # request, a proxy event missing its method or path: the caller's, not a bug
        return None if reason is None else _unsupported(UnsupportedEvent(reason))

    def _handled(self, event: Any, status: int, headers: Mapping[str, str]) -> None:
        """One access line, and ``Status2xx``/``4xx``/``5xx`` counts (what the 5xx alarm
        watches)."""
        log.info("request handled", extra=access_fields(event, status, headers))
        if self.metrics is None:
            return
        from aws_lambda_powertools.metrics import MetricUnit

        self.metrics.add_metric(name=f"Status{status // 100}xx", unit=MetricUnit.Count, value=1)


def _import_aws_clients() -> None:
    """boto3, Powertools Parameters, the DynamoDB stores, and DynamoDB's service model in
    boto3's default session (about 40 ms of JSON off the first request after a restore).
    No client is created and no credential resolved: that happens after the restore."""
    try:
        import boto3
        from aws_lambda_powertools.utilities import parameters  # noqa: F401

        import orchestra.storage.dynamodb  # noqa: F401
    except ImportError:  # local runs without the aws extra
        log.debug("boto3 not installed: nothing to prewarm for AWS")
        return
    boto3.setup_default_session()
    session = boto3.DEFAULT_SESSION
    if session is not None:
        session._session.get_service_model("dynamodb")


def _complete_deferred() -> None:
    """What the modules this function imported leave to their first use (the validators of
    models declared with ``defer_build``; rapidfuzz, which fusion imports at its first
    comparison), done now so that a SnapStart snapshot holds it."""
    from pydantic import BaseModel

    if "orchestra.fusion.agreement" in sys.modules:
        import rapidfuzz.fuzz  # noqa: F401
    for name, module in list(sys.modules.items()):
        if not name.startswith("orchestra."):
            continue
        for value in list(vars(module).values()):
            own = isinstance(value, type) and value.__module__ == name
            if own and issubclass(value, BaseModel) and not value.__pydantic_complete__:
                value.model_rebuild(raise_errors=False)


def _unsupported(exc: UnsupportedEvent) -> dict[str, Any]:
    """The 400 for an event that is not a proxy request this app can serve (logged at info)."""
    log.info("unsupported event: %s", exc.reason)
    return error_response(400, exc.message, "invalid_request", "invalid_request_error")


def streamed_error(response: dict[str, Any]) -> bytes:
    """A whole proxy response (``error_response``) in the streamed format."""
    from orchestra.aws_lambda.runtime_api.http_stream import head

    body: str = response["body"]
    return head(int(response["statusCode"]), dict(response["headers"]), {}) + body.encode()


def access_fields(event: Any, status: int, headers: Mapping[str, str]) -> dict[str, Any]:
    """One structured access line: route, status and what Orchestra chose."""
    event = event if isinstance(event, dict) else {}
    context = _object(event.get("requestContext"))
    http = _object(context.get("http"))
    return {
        "method": event.get("httpMethod") or http.get("method"),
        "path": event.get("path") or event.get("rawPath"),
        "status": status,
        "model": headers.get("x-orchestra-model"),
        "attempts": headers.get("x-orchestra-attempts"),
        "cost_usd": headers.get("x-orchestra-cost-usd"),
    }


def _object(value: Any) -> dict[str, Any]:
    """``value`` if it is a JSON object, else an empty one (unsupported events get logged too)."""
    return value if isinstance(value, dict) else {}
