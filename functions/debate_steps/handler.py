"""debate steps: the one function every task of the debate state machine invokes.

The event is ``{"step": "init" | "turn" | "converge" | "synthesize" | "finalize" | "fail",
"debate_id", ...}`` (see ``orchestra.debate.machine``); the steps are
``orchestra.debate.steps``. Wiring only (see ``orchestra.aws_lambda.functions``).
"""

from orchestra.aws_lambda.functions import DebateStepsFunction

function = DebateStepsFunction()
handler = function.handler
