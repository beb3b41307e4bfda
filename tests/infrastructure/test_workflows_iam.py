"""What each workflow role may do, pinned to what the merged code issues (the tables of
``infra/stacks/workflows.py``), the batch machine's Distributed Map as synthesized, and the
workflow functions' 4 KB of environment with the largest providers file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from infra.config import load_stage
from infra.constructs.function import ENVIRONMENT_LIMIT, environment_size

from support.cdk_synth import Synth, as_list, of_type, role_policy

pytestmark = pytest.mark.slow

#: the stage's workflow limits as environment variables (not the file-size cap)
LIMITS = (
    "ORCHESTRA_CHAIN_MAX_",
    "ORCHESTRA_BATCH_MAX_LINES",
    "ORCHESTRA_BATCH_CHUNK_LINES",
    "ORCHESTRA_BATCH_LINE_CONCURRENCY",
)


def _table_actions(granted: list[dict[str, Any]], table: str) -> set[str]:
    return {
        action
        for st in granted
        if table in json.dumps(st["Resource"])
        for action in as_list(st["Action"])
        if action.startswith("dynamodb:")
    }


def _where(resource: Any) -> str:
    """``bucket`` for the files bucket itself, else the object pattern after it."""
    if "Fn::Join" in resource:
        return str(resource["Fn::Join"][1][-1])
    return "bucket"


def _s3_grants(granted: list[dict[str, Any]]) -> dict[str, set[str]]:
    """Each S3 resource the role names, with the actions granted on it."""
    found: dict[str, set[str]] = {}
    for st in granted:
        actions = {a for a in as_list(st["Action"]) if a.startswith("s3:")}
        for resource in as_list(st["Resource"]) if actions else []:
            assert "FilesBucketArn" in json.dumps(resource), resource
            found.setdefault(_where(resource), set()).update(actions)
    return found


def _states_grants(granted: list[dict[str, Any]]) -> dict[str, set[str]]:
    """Each states action with the machines (and ``:executions``) it is granted on."""
    found: dict[str, set[str]] = {}
    for st in granted:
        for action in (a for a in as_list(st["Action"]) if a.startswith("states:")):
            text = json.dumps(st["Resource"])
            machine = "Chain" if "ChainStateMachine" in text else "Batch"
            scope = ":executions" if ":execution:" in text else ""
            found.setdefault(action, set()).add(machine + scope)
    return found


# --- each function: exactly the calls its code makes ------------------------------------------


@pytest.mark.parametrize(
    ("role", "expected"),
    [
        # chain definitions and runs, files, batches: get/put/load/page/delete; no counters
        ("WorkflowsApiRole", {"GetItem", "PutItem", "Query", "DeleteItem"}),
        # a chain's steps: the run loaded (Query), each step and the outcome put
        ("ChainStepsRole", {"PutItem", "Query"}),
        # a batch's steps: state, flags and counters read, marks put, counters added
        ("BatchStepsRole", {"GetItem", "PutItem", "Query", "UpdateItem"}),
    ],
)
def test_each_workflow_role_gets_exactly_its_record_actions(
    dev: Synth, role: str, expected: set[str]
) -> None:
    granted = role_policy(dev.json("service"), role)
    assert _table_actions(granted, "WorkflowsTable") == {f"dynamodb:{a}" for a in expected}


def test_each_workflow_role_gets_exactly_its_file_actions(dev: Synth) -> None:
    template = dev.json("service")
    assert _s3_grants(role_policy(template, "WorkflowsApiRole")) == {
        # uploads: PutObject; GET content: GetObject; DELETE /v1/files/{id}: DeleteObjects
        "/files/*": {"s3:GetObject", "s3:PutObject", "s3:DeleteObject"},
        # a batch's output and error files: content read, and deleted like any file
        "/batches/*": {"s3:GetObject"},
        "/batches/*/output.jsonl": {"s3:DeleteObject"},
        "/batches/*/errors.jsonl": {"s3:DeleteObject"},
        "bucket": {"s3:ListBucket"},  # a missing key is 404, not 403
    }
    assert _s3_grants(role_policy(template, "BatchStepsRole")) == {
        # the input file: read whole (prepare) and by byte range (each chunk)
        "/files/*": {"s3:GetObject"},
        # manifest and parts put, parts sized (HeadObject) and read, output files
        # concatenated (multipart: PutObject + Abort), parts deleted (DeleteObjects)
        "/batches/*": {
            "s3:GetObject",
            "s3:PutObject",
            "s3:DeleteObject",
            "s3:AbortMultipartUpload",
        },
        "bucket": {"s3:ListBucket"},
    }
    assert _s3_grants(role_policy(template, "ChainStepsRole")) == {}


def test_the_workflows_api_starts_both_machines_and_reads_chain_runs_only(dev: Synth) -> None:
    # the chain service asks its execution for a run's status; a batch's status is its records
    granted = role_policy(dev.json("service"), "WorkflowsApiRole")
    assert _states_grants(granted) == {
        "states:StartExecution": {"Chain", "Batch"},
        "states:DescribeExecution": {"Chain:executions"},
    }
    for role in ("ChainStepsRole", "BatchStepsRole"):
        assert _states_grants(role_policy(dev.json("service"), role)) == {}


# --- the Distributed Map ----------------------------------------------------------------------


def test_the_deployed_batch_map_is_distributed_over_the_manifest_in_the_bucket(
    dev: Synth,
) -> None:
    config = load_stage("dev")
    machines = of_type(dev.json("service"), "AWS::StepFunctions::StateMachine")
    props = next(m["Properties"] for k, m in machines.items() if k.startswith("Batch"))
    process = json.loads(props["DefinitionString"])["States"]["Process"]
    # Then each chunk is a Standard child execution, at most batch_concurrency at once
    assert process["ItemProcessor"]["ProcessorConfig"] == {
        "Mode": "DISTRIBUTED",
        "ExecutionType": "STANDARD",
    }
    assert process["MaxConcurrency"] == config.batch_concurrency
    assert process["ToleratedFailurePercentage"] == 100  # a failed chunk is error lines
    # And the items are the lines of batches/<id>/manifest.jsonl in the files bucket
    reader = process["ItemReader"]
    assert reader["Resource"] == "arn:aws:states:::s3:getObject"
    assert reader["ReaderConfig"] == {"InputType": "JSONL"}
    assert reader["Parameters"]["Bucket"] == "${FilesBucketName}"
    assert reader["Parameters"]["Key.$"] == (
        "States.Format('batches/{}/manifest.jsonl', $.batch_id)"
    )
    assert "FilesBucketName" in json.dumps(props["DefinitionSubstitutions"]["FilesBucketName"])
    # And no result is written back to S3 (the chunks' results are the parts they wrote)
    assert "ResultWriter" not in process and process["ResultPath"] is None


def test_the_batch_machine_role_has_what_its_distributed_map_needs(dev: Synth) -> None:
    granted = role_policy(dev.json("service"), "BatchStateMachineRole")
    by_action: dict[str, list[str]] = {}
    for st in granted:
        for action in as_list(st["Action"]):
            by_action.setdefault(action, []).append(json.dumps(st["Resource"]))
    # StartExecution on itself (the map's child executions), named: no self-reference
    (start,) = by_action["states:StartExecution"]
    assert start.endswith(':stateMachine:Orchestra-dev-batch"]]}')
    # Describe/Stop on its own map runs' children only
    for action in ("states:DescribeExecution", "states:StopExecution"):
        (children,) = by_action[action]
        assert children.endswith(':execution:Orchestra-dev-batch/*:*"]]}')
    # GetObject for the ItemReader, under batches/ only; nothing else in S3
    (read,) = by_action["s3:GetObject"]
    assert read.endswith('/batches/*"]]}') and "FilesBucketArn" in read
    assert {a for a in by_action if a.startswith("s3:")} == {"s3:GetObject"}


# --- the environment ----------------------------------------------------------------------------


def _largest_providers_file(tmp_path: Path) -> Path:
    """The largest providers file within ``PROVIDERS_JSON_LIMIT`` as compact JSON."""
    from infra.stacks.service import PROVIDERS_JSON_LIMIT, providers_json

    def write(count: int) -> Path:
        path = tmp_path / f"orchestra-{count}.yaml"  # one file each: the loader caches
        lines = [f"  - {{name: p{i}, type: openai, api_key_env: KEY_{i}}}\n" for i in range(count)]
        path.write_text("providers:\n" + "".join(lines))
        return path

    def fits(count: int) -> bool:
        try:
            providers_json(str(write(count)))
        except ValueError:
            return False
        return True

    count = 1
    while fits(count + 1):
        count += 1
    path = write(count)
    assert PROVIDERS_JSON_LIMIT - 80 < len(providers_json(str(path))) <= PROVIDERS_JSON_LIMIT
    return path


def test_the_workflow_functions_fit_the_largest_providers_file(tmp_path: Path) -> None:
    import aws_cdk as cdk
    from aws_cdk.assertions import Template
    from infra.app import build

    # Given a stage with the largest providers file and every workflow limit set
    workflows = {
        "chain_max_steps": 50,
        "chain_max_depth": 3,
        "chain_max_fanout": 32,
        "chain_max_cost_usd": 5.0,
        "batch_max_lines": 50_000,
        "batch_chunk_lines": 100,
        "batch_line_concurrency": 16,
    }
    overrides = {"providers_file": str(_largest_providers_file(tmp_path)), "workflows": workflows}
    app = cdk.App(context={"aws:cdk:bundling-stacks": []}, outdir=str(tmp_path / "out"))
    # When the service stack is synthesized (the synth refuses an environment over 4 KB,
    # the state machines' ARNs added last included)
    stack = build(app, load_stage("dev", overrides))["service"]
    functions = of_type(Template.from_stack(stack).to_json(), "AWS::Lambda::Function")
    # Then the three workflow functions carry the file, each within Lambda's limit
    for name in ("workflows_api", "chain_steps", "batch_steps"):
        fn = stack.functions[name]  # type: ignore[attr-defined]
        assert "ORCHESTRA_CONFIG_JSON" in fn.variables, name
        assert environment_size(fn.variables) <= ENVIRONMENT_LIMIT, name
    api = next(
        f["Properties"]["Environment"]["Variables"]
        for f in functions.values()
        if f["Properties"].get("Handler") == "functions.workflows_api.handler.handler"
    )
    assert {"ORCHESTRA_CHAIN_STATE_MACHINE_ARN", "ORCHESTRA_CONFIG_JSON"} <= set(api)
    # And each function carries only the limits it reads
    limits = {
        name: {k for k in stack.functions[name].variables if k.startswith(LIMITS)}  # type: ignore[attr-defined]
        for name in ("workflows_api", "chain_steps", "batch_steps")
    }
    assert limits == {
        "workflows_api": {
            "ORCHESTRA_CHAIN_MAX_STEPS",
            "ORCHESTRA_CHAIN_MAX_DEPTH",
            "ORCHESTRA_CHAIN_MAX_FANOUT",
            "ORCHESTRA_CHAIN_MAX_COST_USD",
            "ORCHESTRA_BATCH_MAX_LINES",
        },
        "chain_steps": set(),
        "batch_steps": {"ORCHESTRA_BATCH_CHUNK_LINES", "ORCHESTRA_BATCH_LINE_CONCURRENCY"},
    }


def test_a_variable_added_after_construction_is_counted_too(tmp_path: Path) -> None:
    import aws_cdk as cdk
    from infra.app import build

    app = cdk.App(context={"aws:cdk:bundling-stacks": []}, outdir=str(tmp_path / "out"))
    stack = build(app, load_stage("dev"))["service"]
    api = stack.functions["workflows_api"]  # type: ignore[attr-defined]
    room = ENVIRONMENT_LIMIT - environment_size(api.variables)
    with pytest.raises(ValueError, match="the workflows_api function's environment"):
        api.add_environment("ORCHESTRA_TOO_MUCH", "x" * room)


def test_a_batch_cut_into_more_chunks_than_the_map_can_return_stops_the_synth() -> None:
    # Given the Distributed Map's result (one small object per chunk) capped at 256 KiB
    from infra.config import MAX_BATCH_CHUNKS

    # Then a stage whose largest batch makes more chunks than that is refused, naming why
    with pytest.raises(ValueError, match="batch_chunk_lines"):
        load_stage("dev", {"workflows": {"batch_chunk_lines": 1}})  # 50,000 chunks
    with pytest.raises(ValueError, match="256 KiB"):
        load_stage("dev", {"workflows": {"batch_max_lines": MAX_BATCH_CHUNKS * 100 + 1}})
    # And the defaults, and a stage at the bound, are accepted
    assert load_stage("dev").workflows.batch_chunk_lines is None
    load_stage("dev", {"workflows": {"batch_max_lines": MAX_BATCH_CHUNKS, "batch_chunk_lines": 1}})
