"""The batch state machine's two shapes: the deployed DISTRIBUTED Map over the manifest in
S3 (asserted: moto does not run it), and the INLINE variant moto executes."""

from __future__ import annotations

import json

from orchestra.batch.machine import BUCKET, STEPS_ARN, definition, render


def test_the_deployed_map_is_distributed_over_the_manifest_jsonl():
    process = definition(max_concurrency=16, chunk_timeout_s=600)["States"]["Process"]
    assert process["Type"] == "Map"
    assert process["ItemProcessor"]["ProcessorConfig"] == {
        "Mode": "DISTRIBUTED",
        "ExecutionType": "STANDARD",
    }
    assert process["ItemReader"] == {
        "Resource": "arn:aws:states:::s3:getObject",
        "ReaderConfig": {"InputType": "JSONL"},
        "Parameters": {
            "Bucket": "${" + BUCKET + "}",
            "Key.$": "States.Format('batches/{}/manifest.jsonl', $.batch_id)",
        },
    }
    assert process["ItemSelector"] == {"batch_id.$": "$.batch_id", "item.$": "$$.Map.Item.Value"}
    assert process["MaxConcurrency"] == 16
    assert process["ToleratedFailurePercentage"] == 100
    assert process["ResultSelector"] == {"chunks.$": "States.ArrayLength($)"}
    assert process["ResultPath"] is None and "ItemsPath" not in process
    chunk = process["ItemProcessor"]["States"]["Chunk"]
    assert chunk["TimeoutSeconds"] == 600
    assert chunk["Catch"][0]["Next"] == "ChunkFailed"
    assert chunk["Parameters"]["Payload"] == {
        "step": "chunk",
        "batch_id.$": "$.batch_id",
        "item.$": "$.item",
    }


def test_the_path_prepare_process_finalize_with_one_failure_state():
    states = definition()["States"]
    assert definition()["StartAt"] == "Prepare"
    assert [states[s]["Next"] for s in ("Prepare", "Process", "Finalize")] == [
        "Process",
        "Finalize",
        "Done",
    ]
    for name in ("Prepare", "Process", "Finalize"):
        assert states[name]["Catch"][0]["Next"] == "RecordFailure"
    assert states["Prepare"]["Parameters"]["Payload"]["inline"] is False
    assert "manifest.$" not in states["Prepare"]["ResultSelector"]  # nothing large in state
    assert states["RecordFailure"]["Parameters"]["Payload"]["step"] == "fail"
    assert states["Failed"]["Type"] == "Fail"


def test_the_inline_variant_maps_over_the_manifest_prepare_returns():
    states = definition(distributed=False)["States"]
    process = states["Process"]
    assert process["ItemProcessor"]["ProcessorConfig"] == {"Mode": "INLINE"}
    assert process["ItemsPath"] == "$.prepared.manifest"
    assert "ItemReader" not in process and "ToleratedFailurePercentage" not in process
    assert states["Prepare"]["Parameters"]["Payload"]["inline"] is True
    assert states["Prepare"]["ResultSelector"]["manifest.$"] == "$.Payload.manifest"


def test_render_fills_the_function_and_the_bucket():
    text = render("arn:aws:lambda:us-east-1:1:function:steps", "files-bucket")
    assert "${" not in text and STEPS_ARN not in text
    doc = json.loads(text)
    process = doc["States"]["Process"]
    assert process["ItemReader"]["Parameters"]["Bucket"] == "files-bucket"
    assert doc["States"]["Prepare"]["Parameters"]["FunctionName"].endswith(":steps")
