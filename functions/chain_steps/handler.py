"""chain steps: the one function every task of the generic chain state machine invokes.

The event is ``{"step": ..., "run_id", ...}`` (see ``orchestra.chain.machine``); the steps
are ``orchestra.chain.steps``. Wiring only (see ``orchestra.aws_lambda.functions``).
"""

from orchestra.aws_lambda.functions import WorkflowStepsFunction

function = WorkflowStepsFunction(
    "orchestra-chain-steps",
    root="orchestra.compose.chains:build_chain_steps",
    use_case="chain_steps",
    id_key="run_id",
)
handler = function.handler
