"""The generic chain state machine, defined once: CDK deploys it, the tests execute it.

CONTRACT STUB (issue 20): the chain helper replaces ``definition``'s body; the names and
signatures below are what ``infra/constructs/chain_machine.py`` relies on.
"""

from __future__ import annotations

import json
from typing import Any

#: the placeholder CDK's ``definition_substitutions`` fills with the chain steps function
STEPS_ARN = "ChainStepsFunctionArn"


def definition(*, step_timeout_s: int = 300, max_concurrency: int = 16) -> dict[str, Any]:
    """The Amazon States Language definition (with the function ARN placeholder)."""
    return {
        "StartAt": "Start",
        "States": {
            "Start": {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke",
                "Parameters": {
                    "FunctionName": "${" + STEPS_ARN + "}",
                    "Payload": {"step": "start", "run_id.$": "$.run_id"},
                },
                "TimeoutSeconds": step_timeout_s,
                "End": True,
            }
        },
    }


def render(function_arn: str, **options: Any) -> str:
    text = json.dumps(definition(**options))
    return text.replace("${" + STEPS_ARN + "}", function_arn)
