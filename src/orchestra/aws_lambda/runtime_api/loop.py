"""The runtime process: load the handler, take part in SnapStart, then serve invocations.

Started by ``functions/stream_runtime`` (``AWS_LAMBDA_EXEC_WRAPPER``) instead of the managed
runtime's own client, with the same ``_HANDLER`` (``functions.generate.handler.handler``).
A handler that has a ``stream(event, context, write)`` attribute answers in streaming mode
(API Gateway's ``responseTransferMode: STREAM``); any other handler is called as usual and
its return value posted whole, so the wrapper is safe on any function.

Errors follow the Runtime API: a handler that cannot be imported is an init error (the
environment is discarded), a failure before the first byte an invocation error, a failure
after it an error in the stream's trailers. Nothing here writes a request's data to the logs.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import sys
import time
from collections.abc import Callable, Mapping
from typing import Any

from orchestra.aws_lambda import snapstart
from orchestra.aws_lambda.runtime_api.client import (
    ClientGone,
    Invocation,
    RuntimeClient,
    error_body,
)

log = logging.getLogger("orchestra.runtime")
TRACE_ENV = "_X_AMZN_TRACE_ID"


class Context:
    """The Lambda context object (the attributes awslambdaric's has, Powertools reads)."""

    def __init__(self, invocation: Invocation, environ: Mapping[str, str]) -> None:
        self.aws_request_id = invocation.request_id
        self.invoked_function_arn = invocation.function_arn
        self.function_name = environ.get("AWS_LAMBDA_FUNCTION_NAME", "")
        self.function_version = environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        self.memory_limit_in_mb = environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "")
        self.log_group_name = environ.get("AWS_LAMBDA_LOG_GROUP_NAME", "")
        self.log_stream_name = environ.get("AWS_LAMBDA_LOG_STREAM_NAME", "")
        self.client_context = _json_or_none(invocation.client_context)
        self.identity = _json_or_none(invocation.cognito_identity)
        self._deadline_ms = invocation.deadline_ms

    def get_remaining_time_in_millis(self) -> int:
        return max(self._deadline_ms - int(time.time() * 1000), 0)


def _json_or_none(raw: str | None) -> Any:
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return None


def load_handler(name: str, task_root: str | None) -> Callable[..., Any]:
    """``package.module.attribute`` from the task root, as the managed runtime resolves it."""
    if task_root and task_root not in sys.path:
        sys.path.insert(0, task_root)
    module_name, _, attribute = name.rpartition(".")
    if not module_name:
        raise ValueError(f"bad handler {name!r}: expected module.attribute")
    module = importlib.import_module(module_name)
    handler: Callable[..., Any] = getattr(module, attribute)
    return handler


def restore_cycle(client: RuntimeClient) -> None:
    """SnapStart: before-snapshot hooks, the snapshot (``restore/next``), after-restore hooks."""
    hooks = snapstart.own_hooks()
    hooks.before_snapshot()
    client.restore_next()
    try:
        hooks.after_restore()
    except Exception as exc:
        client.restore_error(error_body(exc, "Runtime.AfterRestoreError"))
        raise


def invoke(client: RuntimeClient, handler: Callable[..., Any], invocation: Invocation) -> None:
    """One invocation, streamed when the handler can stream."""
    environ = os.environ
    if invocation.trace_id:
        environ[TRACE_ENV] = invocation.trace_id
    else:
        environ.pop(TRACE_ENV, None)
    context = Context(invocation, environ)
    try:
        event = json.loads(invocation.body or b"{}")
    except ValueError as exc:
        client.invocation_error(invocation.request_id, error_body(exc, "Runtime.UnmarshalError"))
        return
    stream = getattr(handler, "stream", None)
    if stream is None:
        _buffered(client, handler, invocation, event, context)
    else:
        _streamed(client, stream, invocation, event, context)


def _buffered(
    client: RuntimeClient,
    handler: Callable[..., Any],
    invocation: Invocation,
    event: Any,
    context: Context,
) -> None:
    try:
        result = handler(event, context)
        body = json.dumps(result).encode()
    except Exception as exc:
        log.exception("invocation failed")
        client.invocation_error(invocation.request_id, error_body(exc))
        return
    client.respond(invocation.request_id, body)


def _streamed(
    client: RuntimeClient,
    stream: Callable[..., Any],
    invocation: Invocation,
    event: Any,
    context: Context,
) -> None:
    response = client.stream(invocation.request_id)
    try:
        stream(event, context, response.write)
    except ClientGone:
        log.info("the client went away before the response ended")
    except Exception as exc:  # the handler answers its own errors: this is a bug
        log.exception("streamed invocation failed")
        response.close(error_body(exc, "Runtime.StreamError"))
        return
    response.close()


def main(environ: Mapping[str, str] | None = None) -> int:
    environ = os.environ if environ is None else environ
    client = RuntimeClient(environ["AWS_LAMBDA_RUNTIME_API"])
    snapstart.own_hooks()  # handlers register their SnapStart hooks here, not awslambdaric's
    try:
        handler = load_handler(environ["_HANDLER"], environ.get("LAMBDA_TASK_ROOT"))
    except Exception as exc:
        log.exception("could not load the handler")
        client.init_error(error_body(exc, "Runtime.ImportModuleError"))
        return 1
    if environ.get("AWS_LAMBDA_INITIALIZATION_TYPE") == snapstart.SNAPSTART:
        restore_cycle(client)
    while True:
        invoke(client, handler, client.next())
