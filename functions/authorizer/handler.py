"""authorizer: API Gateway's TOKEN authorizer for ``Authorization: Bearer <key>``.

Wiring only: see ``orchestra.lambda_entry.AuthorizerFunction`` and
``orchestra.api.authorizer`` (the decision, the policy and the usage identifier).
"""

from orchestra.lambda_entry import AuthorizerFunction

function = AuthorizerFunction()
handler = function.handler
