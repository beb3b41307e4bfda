"""batch steps: the one function every task of the batch state machine invokes (its
Distributed Map's chunk processor included).

The event is ``{"step": ..., "batch_id", ...}`` (see ``orchestra.batch.machine``); the steps
are ``orchestra.batch.steps``. Wiring only (see ``orchestra.aws_lambda.functions``).
"""

from orchestra.aws_lambda.functions import WorkflowStepsFunction

function = WorkflowStepsFunction(
    "orchestra-batch-steps",
    root="orchestra.compose.batches:build_batch_steps",
    use_case="batch_steps",
    id_key="batch_id",
)
handler = function.handler
