"""catalog sync: invoked by EventBridge Scheduler with ``{"source": "openrouter" | "lmarena"
| "huggingface"}`` (one schedule per source); the sync itself is ``orchestra.sync``.
Wiring only (see ``orchestra.aws_lambda.functions``).
"""

from orchestra.aws_lambda.functions import SyncFunction

function = SyncFunction()
handler = function.handler
