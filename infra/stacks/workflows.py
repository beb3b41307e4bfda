"""Chains and batches in the service stack: the files bucket (imported from the data stack),
the chain and batch state machines, and what each workflow function may do to the records,
the files and the executions.

Every grant is what the merged code issues, call by call (``orchestra.chain.store``,
``orchestra.batch.store`` / ``steps`` / ``service`` over ``storage.workflows`` and
``storage.blobs``; ``storage.stepfunctions`` and ``storage.stepfunctions_batch``), and
``tests/infrastructure/test_workflows_iam.py`` pins each function's actions. The resources
keep the stack as their scope, so their logical ids are those of the stack's own.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from aws_cdk import ArnFormat, Fn, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_stepfunctions as sfn

from infra.config import StageConfig
from infra.constructs.batch_machine import BatchMachine
from infra.constructs.chain_machine import ChainMachine
from infra.constructs.function import OrchestraFunction
from infra.stacks.access import BREAKER_READ, CATALOG_READ, GOVERNANCE_LEDGER
from infra.stacks.data import DataStack
from orchestra.batch.machine import BATCHES_PREFIX, FILES_PREFIX
from orchestra.config import env_name

#: the workflows table (``storage.workflows``): ``put``/``put_new`` = PutItem, ``get`` and
#: ``counters`` = GetItem (consistent), ``load``/``page`` = Query, ``add`` = UpdateItem,
#: ``delete`` = DeleteItem.
#: The API: chain definitions (get, put_new, put), runs (put_new, load, put of the
#: execution), files (put, get, page, delete), batches (put_new, put, load, counters, page,
#: the cancel flag by put_new). It never adds to a counter: only chunks do.
WORKFLOWS_API_RW = ("dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query", "dynamodb:DeleteItem")
#: a chain's steps: the run loaded (Query), each step and the outcome put; nothing else
CHAIN_STEPS_RW = ("dynamodb:PutItem", "dynamodb:Query")
#: a batch's steps: its state (Query, the counters' GetItem), the input file's record and
#: the chunk/cancel flags (GetItem), marks and output File records (PutItem), the
#: completed/failed counters added per chunk (UpdateItem)
BATCH_STEPS_RW = ("dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query", "dynamodb:UpdateItem")

#: S3 (``storage.blobs``): ``get`` (whole or ranged) = GetObject, ``size`` = HeadObject
#: (authorized by GetObject), ``put`` = PutObject, ``concat`` = PutObject or a multipart
#: upload (Create/UploadPart/Complete are authorized by PutObject; Abort by its own
#: action), ``delete`` = DeleteObjects (authorized per key by DeleteObject).
#: The API: uploads stored, read back and deleted under files/; batch output and error
#: files (``batches/<id>/output.jsonl``, ``errors.jsonl``) read and deleted
#: (``DELETE /v1/files/{id}`` of a batch_output file); no HeadObject, no multipart.
API_FILES = ("s3:GetObject", "s3:PutObject", "s3:DeleteObject")
API_BATCH_OUTPUTS = ("s3:GetObject",)
API_BATCH_DELETES = ("s3:DeleteObject",)
#: batch files a client may delete through the API (the names ``BatchSteps._file`` writes)
BATCH_OUTPUT_FILES = ("output.jsonl", "errors.jsonl")
#: the batch steps: the input file read (whole by prepare, ranged by each chunk)
STEPS_FILES = ("s3:GetObject",)
#: the batch steps under batches/: manifest and parts written, parts sized (HeadObject) and
#: read, output/error files concatenated (multipart above 5 MiB, aborted on failure),
#: parts and empty outputs deleted
STEPS_BATCHES = ("s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload")

#: the functions of this module, each with the stage's workflow limits it reads (and only
#: those: the workflows API checks chains and uploads, the batch steps cut chunks; chain
#: steps check nothing), so the largest providers file still fits beside every knob
WORKFLOW_LIMITS: dict[str, tuple[str, ...]] = {
    "workflows_api": (
        "chain_max_steps",
        "chain_max_depth",
        "chain_max_fanout",
        "chain_max_cost_usd",
        "batch_max_lines",
    ),
    "chain_steps": (),
    "batch_steps": ("batch_chunk_lines", "batch_line_concurrency"),
}
WORKFLOW_FUNCTIONS = tuple(WORKFLOW_LIMITS)


def import_files_bucket(stack: Stack, data: DataStack) -> s3.IBucket:
    """The data stack's files bucket, imported by its fixed export names."""
    return s3.Bucket.from_bucket_attributes(
        stack,
        "FilesBucket",
        bucket_arn=Fn.import_value(data.files_export("Arn")),
        bucket_name=Fn.import_value(data.files_export("Name")),
    )


def workflows_environment(config: StageConfig, name: str, bucket: s3.IBucket) -> dict[str, str]:
    """Records expire with their files; the limits each function checks; the bucket
    for the functions that read or write files (chain steps never do)."""
    env = {env_name("workflows_ttl_days"): str(config.files_retention_days)}
    limits = config.workflows.environment()
    env.update(
        {
            env_name(field): limits[env_name(field)]
            for field in WORKFLOW_LIMITS[name]
            if env_name(field) in limits
        }
    )
    if name != "chain_steps":
        env[env_name("files_bucket")] = bucket.bucket_name
    if name == "workflows_api":
        env[env_name("batch_max_file_bytes")] = str(config.upload_max_bytes)
    return env


class Workflows:
    """The two machines and the workflow functions' grants (not a construct: what it makes
    belongs to the stack, so moving it here changed no logical id)."""

    def __init__(
        self,
        stack: Stack,
        *,
        config: StageConfig,
        data: DataStack,
        functions: Mapping[str, OrchestraFunction],
        bucket: s3.IBucket,
    ) -> None:
        self.data, self.bucket = data, bucket
        self.api = functions["workflows_api"]
        self.chain_steps, self.batch_steps = functions["chain_steps"], functions["batch_steps"]
        self.chain = ChainMachine(stack, "Chain", config=config, steps=self.chain_steps.target)
        self.batch = BatchMachine(
            stack, "Batch", config=config, steps=self.batch_steps.target, bucket=bucket
        )
        self._grant_records()
        self._grant_files()
        self._grant_executions()

    def _grant_records(self) -> None:
        """The API prices a chain and holds its estimate (the catalog, open breakers, the
        caller's policy and ledger); each function its own workflow records."""
        tables, api = self.data.tables, self.api.role
        tables["models"].grant(api, *CATALOG_READ)
        tables["breakers"].grant(api, *BREAKER_READ)
        tables["governance"].grant(api, *GOVERNANCE_LEDGER)
        tables["workflows"].grant(api, *WORKFLOWS_API_RW)
        tables["workflows"].grant(self.chain_steps.role, *CHAIN_STEPS_RW)
        tables["workflows"].grant(self.batch_steps.role, *BATCH_STEPS_RW)

    def _grant_files(self) -> None:
        """Each action on the objects under the prefixes it is issued for, and s3:ListBucket
        on the bucket: without it S3 answers 403 for a missing key, not 404, and ``size`` /
        ``concat`` / a file's content could not tell an absent object from a failure."""
        api, steps = self.api.role, self.batch_steps.role
        batch_outputs = [f"{BATCHES_PREFIX}*/{name}" for name in BATCH_OUTPUT_FILES]
        self._objects(api, [f"{FILES_PREFIX}*"], API_FILES)
        self._objects(api, [f"{BATCHES_PREFIX}*"], API_BATCH_OUTPUTS)
        self._objects(api, batch_outputs, API_BATCH_DELETES)
        self._objects(steps, [f"{FILES_PREFIX}*"], STEPS_FILES)
        self._objects(steps, [f"{BATCHES_PREFIX}*"], STEPS_BATCHES)
        for role in (api, steps):
            role.add_to_principal_policy(
                iam.PolicyStatement(actions=["s3:ListBucket"], resources=[self.bucket.bucket_arn])
            )

    def _objects(self, role: iam.IRole, patterns: Iterable[str], actions: Iterable[str]) -> None:
        resources = [self.bucket.arn_for_objects(pattern) for pattern in patterns]
        role.add_to_principal_policy(
            iam.PolicyStatement(actions=list(actions), resources=resources)
        )

    def _grant_executions(self) -> None:
        """The API starts both machines; it reads the status of chain runs only
        (``ChainService`` asks the execution; a batch's status is its records)."""
        chain, batch = self.chain.state_machine, self.batch.state_machine
        for machine, setting in (
            (chain, "chain_state_machine_arn"),
            (batch, "batch_state_machine_arn"),
        ):
            machine.grant_start_execution(self.api.role)
            self.api.add_environment(env_name(setting), machine.state_machine_arn)
        self.api.role.add_to_policy(
            iam.PolicyStatement(actions=["states:DescribeExecution"], resources=[executions(chain)])
        )


def executions(machine: sfn.StateMachine) -> str:
    """The ARN pattern of the machine's own executions (named after each run at run time)."""
    return Stack.of(machine).format_arn(
        service="states",
        resource="execution",
        resource_name=f"{machine.state_machine_name}:*",
        arn_format=ArnFormat.COLON_RESOURCE_NAME,
    )
