"""Chains and batches deployed: the files bucket, the two state machines, their IAM, the
workflow routes and the functions' environment (docs/workflows.md)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from infra.config import load_stage
from infra.constructs.api import BINARY_MEDIA_TYPES

from orchestra.batch import machine as batch_machine
from orchestra.chain import machine as chain_machine

from support.cdk_synth import Synth, as_list, methods_by_route, of_type, role_policy

pytestmark = pytest.mark.slow

WORKFLOW_ROUTES = {
    ("GET", "/v1/chains"),
    ("PUT", "/v1/chains/{name}"),
    ("GET", "/v1/chains/{name}"),
    ("POST", "/v1/chains/{name}/runs"),
    ("POST", "/v1/chains/runs"),
    ("GET", "/v1/chains/runs/{run_id}"),
    ("POST", "/v1/files"),
    ("GET", "/v1/files"),
    ("GET", "/v1/files/{file_id}"),
    ("DELETE", "/v1/files/{file_id}"),
    ("GET", "/v1/files/{file_id}/content"),
    ("POST", "/v1/batches"),
    ("GET", "/v1/batches"),
    ("GET", "/v1/batches/{batch_id}"),
    ("POST", "/v1/batches/{batch_id}/cancel"),
}


def _buckets(synth: Synth) -> dict[str, dict[str, Any]]:
    return of_type(synth.json("data"), "AWS::S3::Bucket")


def _files_bucket(synth: Synth) -> tuple[str, dict[str, Any]]:
    return next((k, v) for k, v in _buckets(synth).items() if k.startswith("Files"))


def _machine(synth: Synth, name: str) -> dict[str, Any]:
    machines = of_type(synth.json("service"), "AWS::StepFunctions::StateMachine")
    return next(m["Properties"] for k, m in machines.items() if k.startswith(name))


def _functions(synth: Synth) -> dict[str, dict[str, Any]]:
    functions = of_type(synth.json("service"), "AWS::Lambda::Function").values()
    return {f["Properties"]["Handler"].split(".")[1]: f["Properties"] for f in functions}


def _actions(statements: list[dict[str, Any]], needle: str) -> set[str]:
    """Every action granted on a resource whose JSON contains ``needle``."""
    return {
        action
        for st in statements
        if needle in json.dumps(st["Resource"])
        for action in as_list(st["Action"])
    }


# --- the files bucket -----------------------------------------------------------------------


def test_the_files_bucket_is_encrypted_private_unversioned_and_retained(dev: Synth) -> None:
    _, bucket = _files_bucket(dev)
    props = bucket["Properties"]
    (rule,) = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    assert props["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    assert "VersioningConfiguration" not in props
    assert bucket["DeletionPolicy"] == "Retain"
    assert "AccessLogs" in json.dumps(props["LoggingConfiguration"])


def test_the_files_bucket_refuses_plain_http(dev: Synth) -> None:
    logical, _ = _files_bucket(dev)
    policies = of_type(dev.json("data"), "AWS::S3::BucketPolicy").values()
    (policy,) = [p for p in policies if logical in json.dumps(p["Properties"]["Bucket"])]
    denies = [
        s for s in policy["Properties"]["PolicyDocument"]["Statement"] if s["Effect"] == "Deny"
    ]
    assert any(s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}} for s in denies)


def test_lifecycle_expires_files_and_batches_and_aborts_uploads(dev: Synth, prod: Synth) -> None:
    for synth, stage in ((dev, "dev"), (prod, "prod")):
        days = load_stage(stage).files_retention_days
        rules = _files_bucket(synth)[1]["Properties"]["LifecycleConfiguration"]["Rules"]
        expiring = {
            r.get("Prefix"): r["ExpirationInDays"] for r in rules if "ExpirationInDays" in r
        }
        assert expiring == {"files/": days, "batches/": days}
        aborts = [r for r in rules if "AbortIncompleteMultipartUpload" in r]
        assert aborts == [
            {
                "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1},
                "Id": "AbortIncompleteUploads",
                "Status": "Enabled",
            }
        ]


def test_retention_is_a_stage_knob() -> None:
    assert load_stage("dev").files_retention_days == 30
    assert load_stage("dev", {"files_retention_days": 7}).files_retention_days == 7


# --- the machines ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "module", "steps"),
    [("Chain", chain_machine, "ChainSteps"), ("Batch", batch_machine, "BatchSteps")],
)
def test_both_machines_are_standard_logged_traced_and_from_the_core(
    dev: Synth, name: str, module: Any, steps: str
) -> None:
    props = _machine(dev, name)
    assert props["StateMachineType"] == "STANDARD"
    assert props["StateMachineName"] == f"Orchestra-dev-{name.lower()}"
    assert props["TracingConfiguration"] == {"Enabled": True}
    assert props["LoggingConfiguration"]["Level"] == "ALL"
    assert props["LoggingConfiguration"]["IncludeExecutionData"] is True
    assert "${" + module.STEPS_ARN + "}" in props["DefinitionString"]
    assert f"{steps}Function" in json.dumps(props["DefinitionSubstitutions"][module.STEPS_ARN])


def test_the_definitions_are_the_cores_with_the_stage_knobs(dev: Synth) -> None:
    config = load_stage("dev")
    chain = json.loads(_machine(dev, "Chain")["DefinitionString"])
    assert chain == chain_machine.definition(
        step_timeout_s=config.chain_step_timeout_s, max_concurrency=config.chain_max_concurrency
    )
    batch = json.loads(_machine(dev, "Batch")["DefinitionString"])
    assert batch == batch_machine.definition(
        chunk_timeout_s=config.function_timeout_s("batch_steps"),
        max_concurrency=config.batch_concurrency,
        distributed=True,
    )
    substitutions = _machine(dev, "Batch")["DefinitionSubstitutions"]
    assert "FilesBucketName" in json.dumps(substitutions[batch_machine.BUCKET])


def test_the_batch_machine_role_runs_its_distributed_map_and_nothing_else(dev: Synth) -> None:
    granted = role_policy(dev.json("service"), "BatchStateMachineRole")
    # invoke: the batch steps function (and its versions) only
    assert "BatchStepsFunction" in json.dumps(
        [st["Resource"] for st in granted if "lambda:InvokeFunction" in as_list(st["Action"])]
    )
    # StartExecution on itself, by name (no circular reference to its own ARN)
    (start,) = [st for st in granted if "states:StartExecution" in as_list(st["Action"])]
    assert "stateMachine:Orchestra-dev-batch" in json.dumps(start["Resource"])
    assert not json.dumps(start["Resource"]).endswith('*"]]}')
    # Describe/Stop on its child executions only
    (children,) = [st for st in granted if "states:DescribeExecution" in as_list(st["Action"])]
    assert set(as_list(children["Action"])) == {"states:DescribeExecution", "states:StopExecution"}
    assert "execution:Orchestra-dev-batch/*:*" in json.dumps(children["Resource"])
    # the ItemReader: GetObject on batches/ only
    (read,) = [st for st in granted if any(a.startswith("s3:") for a in as_list(st["Action"]))]
    assert as_list(read["Action"]) == ["s3:GetObject"]
    assert json.dumps(read["Resource"]).endswith('/batches/*"]]}')
    actions = {a for st in granted for a in as_list(st["Action"])}
    assert not any(a.startswith(("dynamodb:", "secretsmanager:")) for a in actions)


def test_the_chain_machine_role_invokes_chain_steps_and_nothing_else(dev: Synth) -> None:
    granted = role_policy(dev.json("service"), "ChainStateMachineRole")
    actions = {a for st in granted for a in as_list(st["Action"])}
    assert all(a.startswith(("logs:", "xray:", "lambda:InvokeFunction")) for a in actions), actions


def test_failures_of_both_machines_alarm(dev: Synth) -> None:
    alarms = of_type(dev.json("service"), "AWS::CloudWatch::Alarm")
    names = {k for k in alarms}
    assert any(k.startswith("MonitoringChainFailures") for k in names)
    assert any(k.startswith("MonitoringBatchFailures") for k in names)


# --- IAM of the functions (exact actions: test_workflows_iam.py) --------------------------------------------------------------------


def test_no_s3_or_dynamodb_action_on_a_bare_wildcard(dev: Synth) -> None:
    for role in ("WorkflowsApiRole", "ChainStepsRole", "BatchStepsRole", "BatchStateMachineRole"):
        for st in role_policy(dev.json("service"), role):
            if any(a.startswith(("s3:", "dynamodb:")) for a in as_list(st["Action"])):
                for resource in as_list(st["Resource"]):
                    assert resource != "*", (role, st)
                    text = json.dumps(resource)
                    scoped = any(p in text for p in ("/files/*", "/batches/*", "/index/*"))
                    assert scoped or "*" not in text, (role, text)


def test_the_steps_functions_call_models(dev: Synth) -> None:
    template = dev.json("service")
    for role in ("ChainStepsRole", "BatchStepsRole"):
        granted = role_policy(template, role)
        actions = {a for st in granted for a in as_list(st["Action"])}
        assert "bedrock:InvokeModel" in actions
        assert "secretsmanager:GetSecretValue" in actions
        assert _actions(granted, "BreakersTable") >= {"dynamodb:BatchGetItem", "dynamodb:PutItem"}
        assert _actions(granted, "GovernanceTable") == {"dynamodb:GetItem", "dynamodb:UpdateItem"}


# --- API and environment ---------------------------------------------------------------------


def test_the_workflow_routes_reach_the_workflows_function(dev: Synth) -> None:
    methods = methods_by_route(dev.json("service"))
    assert set(methods) >= WORKFLOW_ROUTES
    for route in WORKFLOW_ROUTES:
        method = methods[route]
        assert method["AuthorizationType"] == "CUSTOM", route
        uri = json.dumps(method["Integration"]["Uri"])
        assert "WorkflowsApi" in uri, route
        assert "responseTransferMode" not in json.dumps(method["Integration"]), route


def test_multipart_uploads_reach_the_function_intact(dev: Synth) -> None:
    (api,) = of_type(dev.json("service"), "AWS::ApiGateway::RestApi").values()
    assert set(BINARY_MEDIA_TYPES) <= set(api["Properties"]["BinaryMediaTypes"])
    assert "multipart/form-data" in BINARY_MEDIA_TYPES


def test_the_functions_environment(dev: Synth) -> None:
    config = load_stage("dev")
    fns = _functions(dev)
    api, chain, batch = fns["workflows_api"], fns["chain_steps"], fns["batch_steps"]
    api_env = api["Environment"]["Variables"]
    assert "ChainStateMachine" in json.dumps(api_env["ORCHESTRA_CHAIN_STATE_MACHINE_ARN"])
    assert "BatchStateMachine" in json.dumps(api_env["ORCHESTRA_BATCH_STATE_MACHINE_ARN"])
    assert "FilesBucketName" in json.dumps(api_env["ORCHESTRA_FILES_BUCKET"])
    assert api_env["ORCHESTRA_MAX_BODY_BYTES"] == str(config.upload_max_bytes)
    assert api_env["ORCHESTRA_BATCH_MAX_FILE_BYTES"] == str(config.upload_max_bytes)
    for env in (api_env, chain["Environment"]["Variables"], batch["Environment"]["Variables"]):
        assert "WorkflowsTable" in json.dumps(env["ORCHESTRA_WORKFLOWS_TABLE"])
        assert env["ORCHESTRA_WORKFLOWS_TTL_DAYS"] == str(config.files_retention_days)
    assert "ORCHESTRA_FILES_BUCKET" not in chain["Environment"]["Variables"]
    assert "FilesBucketName" in json.dumps(
        batch["Environment"]["Variables"]["ORCHESTRA_FILES_BUCKET"]
    )
    assert batch["Timeout"] == 900 and batch["MemorySize"] >= 2048
    assert chain["Timeout"] >= config.chain_step_timeout_s


def test_workflow_limits_ship_as_settings() -> None:
    config = load_stage("dev", {"workflows": {"chain_max_steps": 20, "batch_chunk_lines": 50}})
    assert config.workflows.environment() == {
        "ORCHESTRA_CHAIN_MAX_STEPS": "20",
        "ORCHESTRA_BATCH_CHUNK_LINES": "50",
    }
    with pytest.raises(ValueError, match="chain_step_timeout_s"):
        load_stage("dev", {"chain_step_timeout_s": 600})


def test_cdk_nag_has_no_unacknowledged_findings(dev: Synth, prod: Synth) -> None:
    # synth raises on an unacknowledged finding; the report lists none as failed
    for synth in (dev, prod):
        report = json.dumps(synth.report())
        assert '"status": "failure"' not in report.lower()
