"""generate: ``POST /v1/chat/completions``, ``GET /v1/models...``, ``GET /health`` on Lambda.

Wiring only (Powertools Logger, Tracer, Metrics and the SnapStart hooks around the shared
app): see ``orchestra.lambda_entry``. Everything else lives in ``orchestra``.
"""

from orchestra.lambda_entry import ApiFunction

function = ApiFunction("orchestra-generate")
handler = function.handler
