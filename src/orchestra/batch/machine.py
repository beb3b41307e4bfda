"""The batch state machine, defined once: CDK deploys it, the tests execute or inspect it.

Input ``{"batch_id"}``; the execution is named after the batch id. Payloads are references
(the batch id, a chunk's byte range), never lines: every line's answer goes to S3.

    Prepare (``prepare``: the chunk manifest, ``batches/<id>/manifest.jsonl``)
    Process (Map over the manifest, ``max_concurrency`` chunks at once; each item a
             ``chunk`` task; one that fails after its retries is caught per item:
             ``chunk_failed`` writes its lines as error lines)
    Finalize (``finalize``: output and error files) -> Done
    any other failure -> RecordFailure (``fail``) -> Failed

Deployed (``distributed=True``) the Map is DISTRIBUTED: its ItemReader reads the manifest
JSONL from the files bucket (``${FilesBucketName}``), each chunk a child execution, failed
items tolerated (100 %: a chunk's failure is its lines' error lines, never the batch's).
``distributed=False`` is the same machine with an INLINE Map over the manifest that
Prepare returns (what moto's interpreter executes).
"""

from __future__ import annotations

from typing import Any

from orchestra import states
from orchestra.states import lambda_task

#: placeholders CDK's ``definition_substitutions`` fills
STEPS_ARN = "BatchStepsFunctionArn"
BUCKET = "FilesBucketName"
#: where batches keep their chunk manifests, parts, output and error files in the bucket
BATCHES_PREFIX = "batches/"
#: where uploaded files are kept in the bucket
FILES_PREFIX = "files/"
_CATCH_ALL = [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "RecordFailure"}]
_ITEM = {"batch_id.$": "$.batch_id", "item.$": "$.item"}


def _task(step: str, payload: dict[str, Any], nxt: str | None, **extra: Any) -> dict[str, Any]:
    return lambda_task(STEPS_ARN, step, payload, nxt, **extra)


def _processor(chunk_timeout_s: int, mode: str) -> dict[str, Any]:
    chunk = _task("chunk", _ITEM, None, TimeoutSeconds=chunk_timeout_s)
    chunk["ResultSelector"] = {"chunk.$": "$.Payload.chunk"}
    chunk["Catch"] = [
        {"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "ChunkFailed"}
    ]
    failed = _task("chunk_failed", {**_ITEM, "error.$": "$.error"}, None, TimeoutSeconds=120)
    failed["ResultSelector"] = {"chunk.$": "$.Payload.chunk"}
    config: dict[str, str] = {"Mode": mode}
    if mode == "DISTRIBUTED":
        config["ExecutionType"] = "STANDARD"
    return {
        "ProcessorConfig": config,
        "StartAt": "Chunk",
        "States": {"Chunk": chunk, "ChunkFailed": failed},
    }


def _process(chunk_timeout_s: int, max_concurrency: int, distributed: bool) -> dict[str, Any]:
    state: dict[str, Any] = {
        "Type": "Map",
        "ItemSelector": {"batch_id.$": "$.batch_id", "item.$": "$$.Map.Item.Value"},
        "MaxConcurrency": max_concurrency,
        "ItemProcessor": _processor(chunk_timeout_s, "DISTRIBUTED" if distributed else "INLINE"),
        "ResultPath": None,
        "Next": "Finalize",
        "Catch": _CATCH_ALL,
    }
    if distributed:
        state["ItemReader"] = {
            "Resource": "arn:aws:states:::s3:getObject",
            "ReaderConfig": {"InputType": "JSONL"},
            "Parameters": {
                "Bucket": states.placeholder(BUCKET),
                "Key.$": "States.Format('" + BATCHES_PREFIX + "{}/manifest.jsonl', $.batch_id)",
            },
        }
        state["ToleratedFailurePercentage"] = 100
        state["ResultSelector"] = {"chunks.$": "States.ArrayLength($)"}
        state["Label"] = "Chunks"
    else:
        state["ItemsPath"] = "$.prepared.manifest"
    return state


def definition(
    *, chunk_timeout_s: int = 900, max_concurrency: int = 8, distributed: bool = True
) -> dict[str, Any]:
    """The Amazon States Language definition (with the placeholders)."""
    ref = {"batch_id.$": "$.batch_id"}
    prepared = {"chunks.$": "$.Payload.chunks", "total.$": "$.Payload.total"}
    if not distributed:
        prepared["manifest.$"] = "$.Payload.manifest"
    return {
        "Comment": "Orchestra batch: chunks of an OpenAI batch file through the gateway",
        "StartAt": "Prepare",
        "States": {
            "Prepare": _task(
                "prepare",
                {**ref, "inline": not distributed},
                "Process",
                TimeoutSeconds=chunk_timeout_s,
                ResultSelector=prepared,
                ResultPath="$.prepared",
                Catch=_CATCH_ALL,
            ),
            "Process": _process(chunk_timeout_s, max_concurrency, distributed),
            "Finalize": _task(
                "finalize",
                ref,
                "Done",
                TimeoutSeconds=chunk_timeout_s,
                ResultPath=None,
                Catch=_CATCH_ALL,
            ),
            "Done": {"Type": "Succeed"},
            "RecordFailure": _task(
                "fail", {**ref, "error.$": "$.error"}, "Failed", ResultPath=None
            ),
            "Failed": {"Type": "Fail", "Error": "BatchFailed", "Cause": "see the batch record"},
        },
    }


def render(function_arn: str, bucket: str, **options: Any) -> str:
    """The definition as JSON with the function ARN and bucket filled in."""
    return states.render(definition(**options), {STEPS_ARN: function_arn, BUCKET: bucket})
