"""Which starter runs a workflow (debate, chain, batch): its state machine or this process.

Deployed (``mode == "aws"``) with the machine's ARN set, an execution is started on Step
Functions; anywhere else (``orchestra serve``, the tests, a deployment without the
machine) the caller's local runner walks the same steps in-process. Chosen here once so
the three workflows cannot disagree about what "deployed" means.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from orchestra.config import Settings
    from orchestra.storage.stepfunctions import StepFunctionsStarter


def state_machine(
    settings: Settings, arn: str | None, **options: Any
) -> StepFunctionsStarter | None:
    """The Step Functions starter of the machine ``arn`` (``options`` as
    :class:`~orchestra.storage.stepfunctions.StepFunctionsStarter` takes them) when
    deployed; None when the workflow should run locally."""
    if settings.mode != "aws" or not arn:
        return None
    from orchestra.storage.stepfunctions import StepFunctionsStarter

    return StepFunctionsStarter(arn, **options)
