"""generate: ``POST /v1/chat/completions``, ``GET /v1/models...``, ``GET /health`` on Lambda.

A thin entry point: Powertools Logger (correlation id from the API Gateway request id),
Tracer and Metrics (EMF) around the shared app; everything else lives in ``orchestra``.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.utilities.typing import LambdaContext

from orchestra.lambda_runtime import LambdaApp

logger = Logger(service="orchestra-generate")
tracer = Tracer(service="orchestra-generate", patch_modules=["botocore"])
metrics = Metrics(namespace="Orchestra", service="orchestra-generate")
app = LambdaApp(metrics=metrics)
# orchestra's own log lines get the same JSON format, correlation id and level
copy_config_to_registered_loggers(source_logger=logger, include={"orchestra"})


@logger.inject_lambda_context(
    correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True
)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app(event, context)
