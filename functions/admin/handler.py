"""admin: the admin API (``/v1/admin/keys``, ``/v1/admin/teams``) and ``GET /v1/spend``.

Keys are issued and revoked in API Gateway and the client-keys secret, policies kept in the
governance table, spend read from the metrics table; the app refuses a key that is not an
admin's (spend: a client key sees its own). Wiring only (see
``orchestra.aws_lambda.functions``); the composition root is ``ROOTS["admin"]``.
"""

from typing import Any

from orchestra.aws_lambda.functions import ApiFunction


def routers() -> list[Any]:
    from orchestra.api.routes import admin, health, spend

    return [admin.router, spend.router, health.router]


function = ApiFunction("orchestra-admin", routers, root="admin")
handler = function.handler
