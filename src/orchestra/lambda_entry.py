"""One API function's Lambda wiring: Powertools Logger, Tracer and Metrics around the app.

Every API handler in ``functions/`` is two lines over this (``ApiFunction(service, routers)``
and ``handler = function.handler``), so the functions cannot drift apart: the same
correlation id, log format, EMF namespace, tracing and SnapStart hooks everywhere.
Constructing it reads Powertools' own environment (as Powertools always does) but opens no
connection: the app itself is built on the first invocation.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers

from orchestra import snapstart
from orchestra.lambda_runtime import LambdaApp

NAMESPACE = "Orchestra"
Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


class ApiFunction:
    """Logger (correlation id = API Gateway request id), Tracer (botocore), EMF Metrics."""

    def __init__(
        self,
        service: str,
        routers: Callable[[], Sequence[Any]] | None = None,
        *,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        environ = os.environ if environ is None else environ
        self.logger = Logger(service=service)
        self.tracer = Tracer(service=service, patch_modules=["botocore"])
        self.metrics = Metrics(namespace=NAMESPACE, service=service)
        self.app = LambdaApp(metrics=self.metrics, routers=routers)
        # orchestra's own log lines get the same JSON format, correlation id and level
        copy_config_to_registered_loggers(source_logger=self.logger, include={"orchestra"})
        # under SnapStart: import and warm now, so the snapshot holds it
        snapstart.install(self.app, environ.get("AWS_LAMBDA_INITIALIZATION_TYPE"))
        self.handler = self._wrapped()

    def _wrapped(self) -> Handler:
        @self.logger.inject_lambda_context(
            correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True
        )
        @self.tracer.capture_lambda_handler(capture_response=False)
        @self.metrics.log_metrics
        def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
            return self.app(event, context)  # looked up per call: tests swap the app

        wrapped: Handler = handler
        return wrapped
