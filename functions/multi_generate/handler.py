"""multi-generate: ``POST /v1/multi-generate`` (and ``GET /health``) on Lambda.

Its own function so a fan-out's longer, memory-heavier requests get their own timeout,
memory and concurrency. Wiring only (see ``orchestra.aws_lambda.functions``).
"""

from typing import Any

from orchestra.aws_lambda.functions import ApiFunction


def routers() -> list[Any]:
    from orchestra.api.routes import health, multi

    return [multi.router, health.router]


function = ApiFunction("orchestra-multi-generate", routers, root="multi_generate")
handler = function.handler
