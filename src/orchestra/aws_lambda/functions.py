"""One API function's Lambda wiring: Powertools Logger, Tracer and Metrics around the app.

Every API handler in ``functions/`` is two lines over this (``ApiFunction(service, routers)``
and ``handler = function.handler``), so the functions cannot drift apart: the same
correlation id, log format, EMF namespace, tracing and SnapStart hooks everywhere.
Constructing it reads Powertools' own environment (as Powertools always does) but opens no
connection: the app itself is built on the first invocation.
"""

from __future__ import annotations

import os
import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers

from orchestra.aws_lambda import snapstart
from orchestra.aws_lambda.app import EnvironmentLoop, LambdaApp

NAMESPACE = "Orchestra"
Handler = Callable[[dict[str, Any], Any], dict[str, Any]]
Write = Callable[[bytes], None]


class ApiHandler:
    """What ``_HANDLER`` names: called, it returns the response whole (the managed runtime);
    ``stream`` writes it as it is produced (the streaming runtime, :mod:`orchestra.aws_lambda.runtime_api`).
    """

    def __init__(self, buffered: Handler, stream: Callable[[dict[str, Any], Any, Write], None]):
        self._buffered = buffered
        self.stream = stream

    def __call__(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        return self._buffered(event, context)


def tracer_for(service: str) -> Tracer | None:
    """Powertools' Tracer, patching botocore; None where Powertools would disable it
    (``POWERTOOLS_TRACE_DISABLED``, or outside Lambda), by Powertools' own rule.

    A disabled Tracer records nothing, but building one still imports the X-Ray SDK (tens
    of ms; outside Lambda its import also builds a botocore client for its sampler, 200 ms
    and more of a local cold start): skipped here.
    """
    disabled = getattr(Tracer, "_is_tracer_disabled", None)  # Powertools' own rule, if any
    if disabled is not None and disabled():
        return None
    return Tracer(service=service, patch_modules=["botocore"])


class ApiFunction:
    """Logger (correlation id = API Gateway request id), Tracer (botocore; where tracing is
    on), EMF Metrics."""

    def __init__(
        self,
        service: str,
        routers: Callable[[], Sequence[Any]] | None = None,
        *,
        root: str | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        environ = os.environ if environ is None else environ
        self.logger = Logger(service=service)
        self.tracer = tracer_for(service)
        self.metrics = Metrics(namespace=NAMESPACE, service=service)
        self.app = LambdaApp(metrics=self.metrics, routers=routers, root=root, tracer=self.tracer)
        # orchestra's own log lines get the same JSON format, correlation id and level
        copy_config_to_registered_loggers(source_logger=self.logger, include={"orchestra"})
        # under SnapStart: import and warm now, so the snapshot holds it
        snapstart.install(self.app, environ.get("AWS_LAMBDA_INITIALIZATION_TYPE"))
        self._write: Write | None = None
        self.handler = ApiHandler(self._powertools(self._buffered), self.stream)
        self._streamed = self._powertools(self._stream_one)

    def _powertools(self, function: Handler) -> Handler:
        """Correlation id and request context in the logs, a trace segment (tracing on), and
        the EMF metrics flushed when ``function`` returns (for a stream: after its last byte)."""
        inner: Handler = self.metrics.log_metrics(function)
        if self.tracer is not None:
            inner = self.tracer.capture_lambda_handler(capture_response=False)(inner)
        wrapped: Handler = self.logger.inject_lambda_context(
            correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True
        )(inner)
        return wrapped

    def _buffered(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        return self.app(event, context)  # looked up per call: tests swap the app

    def stream(self, event: dict[str, Any], context: Any, write: Write) -> None:
        """One invocation answered in the streamed proxy format, through ``write``."""
        self._write = write
        try:
            self._streamed(event, context)
        finally:
            self._write = None

    def _stream_one(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        assert self._write is not None
        self.app.stream(event, context, self._write)
        return {}


#: botocore's "An error occurred (AccessDeniedException) when calling ..." inside Powertools'
#: GetParameterError: the code says why, with no part of the secret
AWS_ERROR_CODE = re.compile(r"An error occurred \((\w+)\)")


def _unreadable(exc: Exception) -> dict[str, str]:
    """Why the secret could not be read, by exception type and AWS error code only."""
    reason = {"error": type(exc).__name__}
    if match := AWS_ERROR_CODE.search(str(exc)):
        reason["aws_error_code"] = match[1]
    return reason


class AuthorizerFunction:
    """The Lambda authorizer (TOKEN and REQUEST events): client keys from their secret
    (cached), then ``authorize``.

    A secret that cannot be read (unset, missing, denied, not a JSON object) raises
    ``KeysUnavailable`` ("client keys unavailable"), so API Gateway answers 500, rendered by
    the ``AUTHORIZER_FAILURE``/``AUTHORIZER_CONFIGURATION_ERROR`` gateway responses as a 503
    in OpenAI's shape: refusing every key instead would tell clients with good keys that
    their key is wrong. The reason is logged by exception type only; the token never is.
    """

    def __init__(
        self, service: str = "orchestra-authorizer", *, environ: Mapping[str, str] | None = None
    ) -> None:
        environ = os.environ if environ is None else environ
        self.logger = Logger(service=service)
        self._settings: Any = None
        copy_config_to_registered_loggers(source_logger=self.logger, include={"orchestra"})
        snapstart.install(self, environ.get("AWS_LAMBDA_INITIALIZATION_TYPE"))
        # log_event=False wins over POWERTOOLS_LOGGER_LOG_EVENT: the event holds the key
        self.handler: Handler = self.logger.inject_lambda_context(
            log_event=False, clear_state=True
        )(self._handle)

    def clients(self) -> Mapping[str, str]:
        from orchestra.aws_lambda.authorizer import KeysUnavailable
        from orchestra.config import Settings
        from orchestra.secrets import read_secret_json

        if self._settings is None:
            self._settings = Settings()
        secret = self._settings.api_keys_secret
        if not secret:
            self.logger.error("client keys unreadable: ORCHESTRA_API_KEYS_SECRET is not set")
            raise KeysUnavailable
        try:
            return read_secret_json(secret, self._settings.secrets_cache_s)
        except Exception as exc:
            self.logger.error("client keys unreadable", extra=_unreadable(exc))
            raise KeysUnavailable from exc

    def _handle(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        from orchestra.aws_lambda.authorizer import authorize

        return authorize(event, self.clients())

    def prewarm(self) -> None:
        from aws_lambda_powertools.utilities import parameters  # noqa: F401

        import orchestra.aws_lambda.authorizer  # noqa: F401
        from orchestra.config import Settings  # noqa: F401

    def before_snapshot(self) -> None:
        self._settings = None

    def after_restore(self) -> None:
        import random

        from aws_lambda_powertools.utilities import parameters

        random.seed()
        parameters.clear_caches()  # type: ignore[no-untyped-call]
        self._settings = None


class TaskFunction(EnvironmentLoop, ABC):
    """A non-API function: Logger and EMF Metrics around ``_handle``, one loop and one set
    of services per execution environment (built by ``_handle`` on its first call)."""

    service = "orchestra"

    def __init__(self, *, environ: Mapping[str, str] | None = None) -> None:
        self.logger = Logger(service=self.service)
        self.metrics = Metrics(namespace=NAMESPACE, service=self.service)
        self.environ = os.environ if environ is None else environ
        copy_config_to_registered_loggers(source_logger=self.logger, include={"orchestra"})
        self.handler: Handler = self.logger.inject_lambda_context(clear_state=True)(
            self.metrics.log_metrics(self._handle)
        )

    @abstractmethod
    def _handle(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        """One invocation (the services are built on the first)."""


class DebateStepsFunction(TaskFunction):
    """The debate state machine's one task function: ``{"step": ...}`` -> that step.

    The services (stores, providers, breakers) are built on the first invocation and kept,
    with one event loop, for the life of the execution environment. A failing step raises,
    so Step Functions sees it: its Retry (transient Lambda errors) and Catch (record the
    failure) apply.
    """

    service = "orchestra-debate-steps"

    def _handle(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        from aws_lambda_powertools.metrics import MetricUnit

        from orchestra.compose.debate import build_debate_steps
        from orchestra.config import Settings
        from orchestra.observability import EmfObserver

        loop = self._use_own_loop()
        if self._services is None:
            observer = EmfObserver(self.metrics)
            self._services = build_debate_steps(Settings(), self.environ, observer=observer)
        self.logger.append_keys(debate_id=event.get("debate_id"), step=event.get("step"))
        self.metrics.add_metric(name="DebateSteps", unit=MetricUnit.Count, value=1)
        result: dict[str, Any] = loop.run_until_complete(self._services.debate_steps.run(event))
        return result


class WorkflowStepsFunction(TaskFunction):
    """A workflow state machine's one task function (chains, batches): ``{"step": ...}``
    -> that step, as :class:`DebateStepsFunction` does for debates.

    ``root`` builds the services (``module:function``); ``use_case`` names the
    :class:`~orchestra.compose.services.Services` field whose ``run(event)`` takes the
    event; ``id_key`` is the event's id field, added to every log line.
    """

    def __init__(
        self,
        service: str,
        *,
        root: str,
        use_case: str,
        id_key: str,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self.service = service
        self.root, self.use_case, self.id_key = root, use_case, id_key
        super().__init__(environ=environ)

    def _handle(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        import importlib

        from aws_lambda_powertools.metrics import MetricUnit

        from orchestra.config import Settings
        from orchestra.observability import EmfObserver

        loop = self._use_own_loop()
        if self._services is None:
            module, _, name = self.root.partition(":")
            build = getattr(importlib.import_module(module), name)
            observer = EmfObserver(self.metrics)
            self._services = build(Settings(), self.environ, observer=observer)
        self.logger.append_keys(**{self.id_key: event.get(self.id_key)}, step=event.get("step"))
        self.metrics.add_metric(name="WorkflowSteps", unit=MetricUnit.Count, value=1)
        steps = getattr(self._services, self.use_case)
        result: dict[str, Any] = loop.run_until_complete(steps.run(event))
        return result


def sync_source(event: Any) -> str:
    """The source a sync event names: ``{"source": ...}`` as the schedules send it, or the
    same inside an EventBridge envelope's ``detail`` (whose own ``source`` is the bus's)."""
    if isinstance(event, dict) and "detail-type" in event:
        event = event.get("detail")
    source = event.get("source") if isinstance(event, dict) else None
    return source if isinstance(source, str) else ""


class SyncFunction(TaskFunction):
    """The scheduled catalog sync: one source per invocation.

    A failed sync is logged and counted (``SyncFailures``), then raised: the invocation
    fails, Lambda retries it, and the event ends in the schedules' dead-letter queue.
    Nothing is written before the source has been read whole, so the last good catalog
    stays in place.
    """

    service = "orchestra-sync"

    def _handle(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        from orchestra.compose.sync import build_sync
        from orchestra.config import Settings
        from orchestra.errors import OrchestraError

        loop = self._use_own_loop()
        source = sync_source(event)
        self.logger.append_keys(sync_source=source)
        self.metrics.add_dimension(name="Source", value=source or "none")
        try:
            if self._services is None:
                self._services = build_sync(Settings(), self.environ)
            report = loop.run_until_complete(self._services.run(source))
        except OrchestraError as exc:  # SyncFailed, or no models table to sync into
            self._count(SyncFailures=1)
            self.logger.error(
                "catalog sync failed; the catalog is unchanged",
                extra={"reason": exc.message, "retryable": exc.retryable},
            )
            raise
        summary: dict[str, Any] = report.summary()
        self._count(
            SyncRuns=1,
            SyncRecords=report.records,
            SyncModelsUpdated=report.models_written,
            SyncFieldsChanged=len(report.changes),
            SyncRecordsSkipped=len(report.skipped),
        )
        self.logger.info("catalog synced", extra={"report": summary})
        return summary

    def _count(self, **counts: int) -> None:
        from aws_lambda_powertools.metrics import MetricUnit

        for name, value in counts.items():
            self.metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
