"""authorizer: API Gateway's Lambda authorizer (TOKEN: Bearer; REQUEST: any client's key).

Wiring only: see ``orchestra.aws_lambda.functions.AuthorizerFunction`` and
``orchestra.aws_lambda.authorizer`` (the decision, the policy and the usage identifier).
"""

from orchestra.aws_lambda.functions import AuthorizerFunction

function = AuthorizerFunction()
handler = function.handler
