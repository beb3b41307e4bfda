"""workflows API: chains (``/v1/chains*``) and OpenAI Files and Batches (``/v1/files*``,
``/v1/batches*``) on Lambda.

Chain runs and batches start Step Functions executions (named after the run or batch id)
and are read back from the workflows table; files live in the files bucket. Wiring only
(see ``orchestra.aws_lambda.functions``).
"""

from typing import Any

from orchestra.aws_lambda.functions import ApiFunction


def routers() -> list[Any]:
    from orchestra.api.routes import batches, chains, files, health

    return [chains.router, files.router, batches.router, health.router]


function = ApiFunction("orchestra-workflows-api", routers, root="workflows_api")
handler = function.handler
