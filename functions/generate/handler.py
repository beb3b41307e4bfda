"""generate: chat completions, Messages, Responses, Gemini, embeddings, models, health.

Wiring only (Powertools Logger, Tracer, Metrics and the SnapStart hooks around the shared
app): see ``orchestra.aws_lambda.functions``. Everything else lives in ``orchestra``.
"""

from typing import Any

from orchestra.aws_lambda.functions import ApiFunction


def routers() -> list[Any]:
    from orchestra.api.app import generate_routers

    return list(generate_routers())


function = ApiFunction("orchestra-generate", routers, root="generate")
handler = function.handler
