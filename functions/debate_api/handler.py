"""debate API: ``POST /v1/debates`` and ``GET /v1/debates/{id}`` on Lambda.

``POST`` stores the debate and starts its Step Functions execution (named after the debate
id); ``GET`` reads the transcript from the debates table. Wiring only (see
``orchestra.aws_lambda.functions``).
"""

from typing import Any

from orchestra.aws_lambda.functions import ApiFunction


def routers() -> list[Any]:
    from orchestra.api.routes import debates, health

    return [debates.router, health.router]


function = ApiFunction("orchestra-debate-api", routers, root="debate_api")
handler = function.handler
