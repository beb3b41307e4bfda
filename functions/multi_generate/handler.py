"""multi-generate: ``POST /v1/multi-generate`` on Lambda, with its own timeout and memory.

Wiring only (see ``orchestra.lambda_entry``). Until the multi-generate routes land, this
function serves ``/health`` and answers every other path with an OpenAI-shaped 404.
"""

from typing import Any

from orchestra.lambda_entry import ApiFunction


def routers() -> list[Any]:
    from orchestra.api.routes import health

    return [health.router]


function = ApiFunction("orchestra-multi-generate", routers)
handler = function.handler
