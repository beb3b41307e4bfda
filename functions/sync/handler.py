"""catalog sync: invoked by EventBridge Scheduler with ``{"source": "openrouter" | "lmarena"
| "huggingface"}`` (one schedule per source); the sync itself is ``orchestra.sync``.
Wiring only (see ``orchestra.lambda_entry``).
"""

from orchestra.lambda_entry import SyncFunction

function = SyncFunction()
handler = function.handler
