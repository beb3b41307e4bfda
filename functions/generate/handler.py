"""generate: ``POST /v1/chat/completions``, ``GET /v1/models...``, ``GET /health`` on Lambda.

Wiring only (Powertools Logger, Tracer, Metrics and the SnapStart hooks around the shared
app): see ``orchestra.aws_lambda.functions``. Everything else lives in ``orchestra``.
"""

from typing import Any

from orchestra.aws_lambda.functions import ApiFunction


def routers() -> list[Any]:
    from orchestra.api.routes import chat, health, models

    return [chat.router, models.router, health.router]


function = ApiFunction("orchestra-generate", routers, root="generate")
handler = function.handler
