"""debate API: ``POST /v1/debates`` and ``GET /v1/debates/{id}`` on Lambda.

Wiring only (see ``orchestra.lambda_entry``). Until the debate routes land, this function
serves ``/health`` and answers every other path with an OpenAI-shaped 404.
"""

from typing import Any

from orchestra.lambda_entry import ApiFunction


def routers() -> list[Any]:
    from orchestra.api.routes import health

    return [health.router]


function = ApiFunction("orchestra-debate-api", routers)
handler = function.handler
