"""The stateless service stack: functions, REST API, the debate, chain and batch state
machines, sync schedules, alarms and dashboard. It holds no data: destroy and redeploy it
freely."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from aws_cdk import ArnFormat, Aws, Fn, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_stepfunctions as sfn

from constructs import Construct
from infra.config import ALL_FUNCTIONS, API_FUNCTIONS, STREAMING_FUNCTIONS, StageConfig
from infra.constructs.api import OrchestraApi
from infra.constructs.batch_machine import BatchMachine
from infra.constructs.chain_machine import ChainMachine
from infra.constructs.debate_machine import DebateMachine
from infra.constructs.function import OrchestraFunction
from infra.constructs.key_admin import KeyAdministration
from infra.constructs.monitoring import Monitoring, Watched
from infra.constructs.schedules import SyncSchedules
from infra.stacks.data import DataStack
from orchestra.batch.machine import BATCHES_PREFIX, FILES_PREFIX
from orchestra.config import env_name
from orchestra.storage.tables import (
    BREAKERS_TABLE,
    CACHE_TABLE,
    DEBATES_TABLE,
    GOVERNANCE_TABLE,
    METRICS_TABLE,
    MODELS_TABLE,
    RESPONSES_TABLE,
    WORKFLOWS_TABLE,
)

#: exactly the DynamoDB actions each access pattern issues (see orchestra.storage.dynamodb)
CATALOG_READ = ("dynamodb:Scan", "dynamodb:GetItem")
#: the sync: one Scan for the current catalog, one UpdateItem per model it refreshes
#: (PutItem: ``CatalogBackend.upsert`` of a model with no fields)
CATALOG_SYNC = ("dynamodb:Scan", "dynamodb:UpdateItem", "dynamodb:PutItem")
BREAKER_RW = (
    "dynamodb:GetItem",
    "dynamodb:BatchGetItem",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
)
METRICS_RW = ("dynamodb:UpdateItem", "dynamodb:Query")
BREAKER_READ = ("dynamodb:BatchGetItem",)
#: one conditional or plain PutItem per fact, one Query per debate (``debate.store``)
DEBATES_RW = ("dynamodb:PutItem", "dynamodb:Query")
#: stored Responses answers: one PutItem per answer, one consistent GetItem per
#: ``previous_response_id`` or GET (``storage.dynamodb``)
RESPONSES_RW = ("dynamodb:PutItem", "dynamodb:GetItem")
#: the ledger: one conditional UpdateItem per hold and per settle, GetItem for usage; key
#: and team policies: GetItem, cached per instance (``storage.governance``)
GOVERNANCE_LEDGER = ("dynamodb:GetItem", "dynamodb:UpdateItem")
#: a debate's creator admitted when it starts: policies read, no model called here
GOVERNANCE_READ = ("dynamodb:GetItem",)
#: the admin API: policies read, written, listed (Query by team, Scan) and deleted
GOVERNANCE_ADMIN = (
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:DeleteItem",
    "dynamodb:Query",
    "dynamodb:Scan",
)
#: spend reports: one Query per day of spend rows (``storage.spend``)
SPEND_READ = ("dynamodb:Query",)
#: answers from cache: one GetItem per lookup, one PutItem per stored answer
#: (``storage.cache``); no Scan, no Query: an entry is only ever read by its key
CACHE_RW = ("dynamodb:GetItem", "dynamodb:PutItem")
#: the functions that answer through ``Generate.generate`` (every inbound format: chat,
#: Messages, Responses, Gemini); multi-generate and debates build a Generate for its
#: fallback runner only, which the cache does not sit in front of
CACHE_FUNCTIONS = ("generate",)
BEDROCK_INVOKE = ("bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream")
#: functions that call models: routing, breakers and metrics tables, provider keys
MODEL_CALLERS = ("generate", "multi_generate", "debate_steps", "chain_steps", "batch_steps")
#: workflow records (``storage.workflows``): PutItem (``put``/``put_new``), consistent
#: GetItem (``get``, ``counters``), Query (``load``, ``page``), UpdateItem (``add``),
#: DeleteItem (``delete``), each only where the use case issues it
WORKFLOWS_API_RW = (
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",  # a batch's counters read back, the cancel flag, file listings
    "dynamodb:Query",
    "dynamodb:DeleteItem",  # DELETE /v1/files/{id}
)
#: a chain run's steps: the run's documents written and read back; no counters, no deletes
CHAIN_STEPS_RW = ("dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query")
#: a batch's steps: its documents, and the completed/failed counters added per chunk
BATCH_STEPS_RW = ("dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query", "dynamodb:UpdateItem")
#: S3 (``storage.blobs``): GetObject (ranged reads, and HeadObject), PutObject (put, and
#: every multipart action but Abort), DeleteObject (DeleteObjects), AbortMultipartUpload
BLOB_READ = ("s3:GetObject",)
BLOB_RW = ("s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload")
#: the tables each function reads or writes, by the environment variable of each
TABLES = {
    "generate": (
        MODELS_TABLE,
        BREAKERS_TABLE,
        METRICS_TABLE,
        RESPONSES_TABLE,
        GOVERNANCE_TABLE,
        CACHE_TABLE,
    ),
    "multi_generate": (MODELS_TABLE, BREAKERS_TABLE, METRICS_TABLE, GOVERNANCE_TABLE),
    "debate_api": (MODELS_TABLE, BREAKERS_TABLE, DEBATES_TABLE, GOVERNANCE_TABLE),
    "debate_steps": (MODELS_TABLE, BREAKERS_TABLE, METRICS_TABLE, DEBATES_TABLE, GOVERNANCE_TABLE),
    "admin": (GOVERNANCE_TABLE, METRICS_TABLE),
    # chains' cost estimate (catalog prices) and budget hold; breakers are required in AWS
    "workflows_api": (MODELS_TABLE, BREAKERS_TABLE, GOVERNANCE_TABLE, WORKFLOWS_TABLE),
    "chain_steps": (MODELS_TABLE, BREAKERS_TABLE, METRICS_TABLE, GOVERNANCE_TABLE, WORKFLOWS_TABLE),
    "batch_steps": (MODELS_TABLE, BREAKERS_TABLE, METRICS_TABLE, GOVERNANCE_TABLE, WORKFLOWS_TABLE),
    "sync": (MODELS_TABLE,),
    "authorizer": (),
}


#: Lambda holds 4 KB of environment per function in all: the providers file gets most.
#: The generate function's own variables take ~1,060 bytes (six tables, a secret, the
#: deadlines, Powertools'), so a providers file this size still deploys beside them; the
#: stage's guardrail, governance and cache knobs share what is left (the synth's
#: ``check_environment`` names the function when they do not fit)
PROVIDERS_JSON_LIMIT = 2944


def providers_json(path: str) -> str:
    """The stage's providers file, validated as the functions will read it, as compact
    JSON (what was left at its defaults is left out); a file too large or invalid stops
    the synth with the reason."""
    from orchestra.providers.registry import load_config_file

    text = load_config_file(path).model_dump_json(exclude_defaults=True)
    if len(text) > PROVIDERS_JSON_LIMIT:
        raise ValueError(
            f"providers_file {path} is {len(text)} bytes as JSON; at most "
            f"{PROVIDERS_JSON_LIMIT} fit in a function's environment"
        )
    return text


class ServiceStack(Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StageConfig,
        data: DataStack,
        code: lambda_.Code,
        **kw: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kw)
        self.config, self.data = config, data
        #: the data stack's files bucket, imported by its fixed export names
        self.files_bucket = s3.Bucket.from_bucket_attributes(
            self,
            "FilesBucket",
            bucket_arn=Fn.import_value(data.files_export("Arn")),
            bucket_name=Fn.import_value(data.files_export("Name")),
        )
        self.add_stack_dependency(data)
        self.functions = {
            name: OrchestraFunction(
                self,
                name.title().replace("_", ""),
                name=name,
                code=code,
                config=config,
                environment=self._environment(name),
                snapstart=config.snapstart and name in (*API_FUNCTIONS, "authorizer"),
                streaming=name in STREAMING_FUNCTIONS,
            )
            for name in ALL_FUNCTIONS
        }
        self._grant_data()
        self.debate = DebateMachine(
            self, "Debate", config=config, steps=self.functions["debate_steps"].target
        )
        self._grant_debates()
        self.chain = ChainMachine(
            self, "Chain", config=config, steps=self.functions["chain_steps"].target
        )
        self.batch = BatchMachine(
            self,
            "Batch",
            config=config,
            steps=self.functions["batch_steps"].target,
            bucket=self.files_bucket,
        )
        self._grant_workflows()
        self.api = OrchestraApi(
            self,
            "Http",
            config=config,
            targets={name: self.functions[name].target for name in API_FUNCTIONS},
            streaming=STREAMING_FUNCTIONS,
            authorizer=self.functions["authorizer"].target,
        )
        self._grant_admin()
        self.schedules = SyncSchedules(
            self, "Schedules", config=config, sync=self.functions["sync"].target
        )
        self.monitoring = Monitoring(
            self,
            "Monitoring",
            config=config,
            watched=Watched(
                api=self.api.api,
                generate=self.functions["generate"].function,
                sync=self.functions["sync"].function,
                debate=self.debate.state_machine,
                chain=self.chain.state_machine,
                batch=self.batch.state_machine,
                sync_dead_letters=self.schedules.dead_letters,
            ),
        )

    def _environment(self, name: str) -> dict[str, str]:
        data, config = self.data, self.config
        env = {spec.env_var: data.tables[spec.key].table_name for spec in TABLES[name]}
        if name in ("authorizer", "admin"):  # the client keys: checked, or issued and revoked
            env[env_name("api_keys_secret")] = data.client_keys.secret_arn
        else:
            env[env_name("provider_keys_secret")] = data.provider_keys.secret_arn
        if name == "authorizer":
            return env
        if name == "admin":  # its name: the plan's id would make a dependency cycle
            env[env_name("key_usage_plan")] = config.usage_plan_name(config.key_usage_plan)
        if GOVERNANCE_TABLE in TABLES[name]:
            env.update(config.governance.environment())
        if name in CACHE_FUNCTIONS:
            env.update(self._cache_environment())
        if WORKFLOWS_TABLE in TABLES[name]:
            env.update(self._workflows_environment(name))
        if config.bedrock_guardrail_id and name in MODEL_CALLERS:
            env[env_name("bedrock_guardrail_id")] = config.bedrock_guardrail_id
            env[env_name("bedrock_guardrail_version")] = str(config.bedrock_guardrail_version)
        return {**env, **self._runtime_environment(name)}

    def _cache_environment(self) -> dict[str, str]:
        """The stage's cache defaults and, when built, the vector bucket and index."""
        env = self.config.cache.environment()
        vectors = self.data.vectors
        if vectors is not None:
            env[env_name("cache_vector_bucket")] = vectors.bucket_name
            env[env_name("cache_vector_index")] = vectors.index_name
        return env

    def _workflows_environment(self, name: str) -> dict[str, str]:
        """Records expire with their files; the limits each function checks; the bucket
        for the functions that read or write files (chain steps never do)."""
        config = self.config
        env = {env_name("workflows_ttl_days"): str(config.files_retention_days)}
        env.update(config.workflows.environment())
        if name != "chain_steps":
            env[env_name("files_bucket")] = self.files_bucket.bucket_name
        if name == "workflows_api":
            env[env_name("batch_max_file_bytes")] = str(config.upload_max_bytes)
        return env

    def _runtime_environment(self, name: str) -> dict[str, str]:
        """Auth, body limit, deadlines, Bedrock and the providers file, by function kind."""
        env: dict[str, str] = {}
        if name in API_FUNCTIONS:
            env[env_name("trust_gateway_auth")] = "true"  # the authorizer checked the key
            env[env_name("max_body_bytes")] = str(
                self.config.upload_max_bytes
                if name == "workflows_api"
                else self.config.max_body_bytes
            )
        if name in STREAMING_FUNCTIONS:  # one request's time, consistent with the API's
            env[env_name("request_deadline_s")] = str(self.config.stream_deadline_s)
            env[env_name("buffered_deadline_s")] = str(self.config.buffered_deadline_s)
            env[env_name("stream_keepalive_s")] = str(self.config.stream_keepalive_s)
        if self.config.bedrock and name in MODEL_CALLERS:
            env[env_name("bedrock_region")] = Aws.REGION
        if self.config.providers_file and name in MODEL_CALLERS:
            env[env_name("config_json")] = providers_json(self.config.providers_file)
        return env

    def _grant_data(self) -> None:
        data, fns = self.data, self.functions
        data.client_keys.grant_read(fns["authorizer"].role)
        for name in (*MODEL_CALLERS, "debate_api", "workflows_api", "sync"):
            data.provider_keys.grant_read(fns[name].role)
        for name in MODEL_CALLERS:
            role = fns[name].role
            _grant(data.tables["models"], role, CATALOG_READ)
            _grant(data.tables["breakers"], role, BREAKER_RW)
            _grant(data.tables["metrics"], role, METRICS_RW)
            _grant(data.tables["governance"], role, GOVERNANCE_LEDGER)
            if self.config.bedrock:
                role.add_to_policy(_bedrock_statement())
            if self.config.bedrock_guardrail_id:
                role.add_to_policy(_guardrail_statement(self.config.bedrock_guardrail_id))
        _grant(data.tables["models"], fns["debate_api"].role, CATALOG_READ)
        # picking participants skips models whose breaker is open: read, never written
        _grant(data.tables["breakers"], fns["debate_api"].role, BREAKER_READ)
        _grant(data.tables["debates"], fns["debate_api"].role, DEBATES_RW)
        _grant(data.tables["governance"], fns["debate_api"].role, GOVERNANCE_READ)
        _grant(data.tables["debates"], fns["debate_steps"].role, DEBATES_RW)
        _grant(data.tables["models"], fns["sync"].role, CATALOG_SYNC)
        _grant(data.tables["responses"], fns["generate"].role, RESPONSES_RW)
        for name in CACHE_FUNCTIONS:
            _grant(data.tables["cache"], fns[name].role, CACHE_RW)
            if data.vectors is not None:
                data.vectors.grant(fns[name].role)

    def _grant_debates(self) -> None:
        """The debate API starts executions and reads their status, for this machine only."""
        machine = self.debate.state_machine
        api = self.functions["debate_api"]
        machine.grant_start_execution(api.role)
        api.role.add_to_policy(
            iam.PolicyStatement(
                actions=["states:DescribeExecution", "states:StopExecution"],
                resources=[_executions(machine)],
            )
        )
        api.function.add_environment(
            env_name("debate_state_machine_arn"), machine.state_machine_arn
        )

    def _grant_workflows(self) -> None:
        """Records and files, each function exactly what it issues; the workflows API
        starts both machines and reads their executions (``console_url``, status)."""
        data, fns = self.data, self.functions
        api, chain, batch = fns["workflows_api"], fns["chain_steps"], fns["batch_steps"]
        _grant(data.tables["models"], api.role, CATALOG_READ)
        _grant(data.tables["breakers"], api.role, BREAKER_READ)
        _grant(data.tables["governance"], api.role, GOVERNANCE_LEDGER)
        _grant(data.tables["workflows"], api.role, WORKFLOWS_API_RW)
        _grant(data.tables["workflows"], chain.role, CHAIN_STEPS_RW)
        _grant(data.tables["workflows"], batch.role, BATCH_STEPS_RW)
        bucket = self.files_bucket
        _grant_objects(bucket, api.role, f"{FILES_PREFIX}*", BLOB_RW)
        _grant_objects(bucket, api.role, f"{BATCHES_PREFIX}*", BLOB_READ)  # output files
        _grant_objects(bucket, batch.role, f"{FILES_PREFIX}*", BLOB_READ)
        _grant_objects(bucket, batch.role, f"{BATCHES_PREFIX}*", BLOB_RW)
        for role in (api.role, batch.role):
            # without it S3 answers 403 for a missing key, not 404: ``size`` and ``concat``
            # tell an absent part from a failure (listing names, never reading objects)
            role.add_to_principal_policy(
                iam.PolicyStatement(actions=["s3:ListBucket"], resources=[bucket.bucket_arn])
            )
        for machine, setting in (
            (self.chain.state_machine, "chain_state_machine_arn"),
            (self.batch.state_machine, "batch_state_machine_arn"),
        ):
            machine.grant_start_execution(api.role)
            api.role.add_to_policy(
                iam.PolicyStatement(
                    actions=["states:DescribeExecution"], resources=[_executions(machine)]
                )
            )
            api.function.add_environment(env_name(setting), machine.state_machine_arn)

    def _grant_admin(self) -> None:
        """The admin function: policies, spend rows, the client keys (read and rewritten)
        and, through :class:`KeyAdministration`, API Gateway keys on the key plan only."""
        data, role = self.data, self.functions["admin"].role
        _grant(data.tables["governance"], role, GOVERNANCE_ADMIN)
        _grant(data.tables["metrics"], role, SPEND_READ)
        data.client_keys.grant_read(role)
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["secretsmanager:PutSecretValue"], resources=[data.client_keys.secret_arn]
            )
        )
        self.key_admin = KeyAdministration(
            self,
            "KeyAdministration",
            role=role,
            usage_plan=self.api.usage_plans[self.config.key_usage_plan],
        )


def _grant(table: dynamodb.ITable, role: iam.IGrantable, actions: Iterable[str]) -> None:
    table.grant(role, *actions)


def _grant_objects(
    bucket: s3.IBucket, role: iam.IRole, pattern: str, actions: Iterable[str]
) -> None:
    """``actions`` on the objects under one prefix of the bucket, and nothing else."""
    role.add_to_principal_policy(
        iam.PolicyStatement(actions=list(actions), resources=[bucket.arn_for_objects(pattern)])
    )


def _executions(machine: sfn.StateMachine) -> str:
    """The ARN pattern of the machine's own executions (named after each run at run time)."""
    return Stack.of(machine).format_arn(
        service="states",
        resource="execution",
        resource_name=f"{machine.state_machine_name}:*",
        arn_format=ArnFormat.COLON_RESOURCE_NAME,
    )


def _bedrock_statement() -> iam.PolicyStatement:
    partition, region, account = Aws.PARTITION, Aws.REGION, Aws.ACCOUNT_ID
    return iam.PolicyStatement(
        actions=list(BEDROCK_INVOKE),
        resources=[
            # cross-region inference profiles may serve from any region's foundation model
            f"arn:{partition}:bedrock:*::foundation-model/*",
            f"arn:{partition}:bedrock:{region}:{account}:inference-profile/*",
        ],
    )


def _guardrail_statement(guardrail: str) -> iam.PolicyStatement:
    """ApplyGuardrail on the configured guardrail (an id in this account and region, or its
    ARN) and on no other."""
    arn = (
        guardrail
        if guardrail.startswith("arn:")
        else f"arn:{Aws.PARTITION}:bedrock:{Aws.REGION}:{Aws.ACCOUNT_ID}:guardrail/{guardrail}"
    )
    return iam.PolicyStatement(actions=["bedrock:ApplyGuardrail"], resources=[arn])
