"""The batch state machine, defined once: CDK deploys it, the tests execute or inspect it.

CONTRACT STUB (issue 20): the batch helper replaces ``definition``'s body; the names and
signatures below are what ``infra/constructs/batch_machine.py`` relies on. The deployed
definition has a DISTRIBUTED Map whose ItemReader reads a chunk manifest (JSONL) from the
files bucket (``${FilesBucketName}``) under ``MANIFEST_PREFIX``.
"""

from __future__ import annotations

import json
from typing import Any

#: placeholders CDK's ``definition_substitutions`` fills
STEPS_ARN = "BatchStepsFunctionArn"
BUCKET = "FilesBucketName"
#: where batches keep their chunk manifests, parts, output and error files in the bucket
BATCHES_PREFIX = "batches/"
#: where uploaded files are kept in the bucket
FILES_PREFIX = "files/"


def definition(
    *, chunk_timeout_s: int = 900, max_concurrency: int = 8, distributed: bool = True
) -> dict[str, Any]:
    """The Amazon States Language definition (with the placeholders)."""
    return {
        "StartAt": "Prepare",
        "States": {
            "Prepare": {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke",
                "Parameters": {
                    "FunctionName": "${" + STEPS_ARN + "}",
                    "Payload": {"step": "prepare", "batch_id.$": "$.batch_id"},
                },
                "TimeoutSeconds": chunk_timeout_s,
                "End": True,
            }
        },
    }


def render(function_arn: str, bucket: str, **options: Any) -> str:
    text = json.dumps(definition(**options))
    return text.replace("${" + STEPS_ARN + "}", function_arn).replace("${" + BUCKET + "}", bucket)
