"""debate steps: the one function every task of the debate state machine invokes.

The event is ``{"step": "turn" | "converge" | "synthesize" | "fail", "debate_id", ...}``
(see ``orchestra.debate.machine``). The steps themselves land with the debate issue; until
then every step fails with a typed error, which the execution records as its failure.
"""

from typing import Any

from aws_lambda_powertools import Logger

from orchestra.errors import OrchestraError

logger = Logger(service="orchestra-debate-steps")


class DebateStepUnavailable(OrchestraError):
    status = 501


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    step = str(event.get("step")) if isinstance(event, dict) else "?"
    logger.warning("debate step requested before debates are available", extra={"step": step})
    raise DebateStepUnavailable(f"debate step {step!r} is not available in this build")
