"""The stateless service stack: functions, REST API, the debate, chain and batch state
machines, sync schedules, alarms and dashboard. It holds no data: destroy and redeploy it
freely."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from aws_cdk import Aws, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_

from constructs import Construct
from infra.config import ALL_FUNCTIONS, API_FUNCTIONS, STREAMING_FUNCTIONS, StageConfig
from infra.constructs.api import OrchestraApi
from infra.constructs.debate_machine import DebateMachine
from infra.constructs.function import OrchestraFunction
from infra.constructs.key_admin import KeyAdministration
from infra.constructs.monitoring import Monitoring, Watched
from infra.constructs.schedules import SyncSchedules
from infra.stacks.access import (
    BREAKER_READ,
    BREAKER_RW,
    CACHE_RW,
    CATALOG_READ,
    CATALOG_SYNC,
    DEBATES_RW,
    GOVERNANCE_ADMIN,
    GOVERNANCE_LEDGER,
    GOVERNANCE_READ,
    METRICS_RW,
    RESPONSES_RW,
    SPEND_READ,
)
from infra.stacks.data import DataStack
from infra.stacks.workflows import (
    WORKFLOW_FUNCTIONS,
    Workflows,
    executions,
    import_files_bucket,
    workflows_environment,
)
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

#: the functions that answer through ``Generate.generate`` (every inbound format: chat,
#: Messages, Responses, Gemini); multi-generate and debates build a Generate for its
#: fallback runner only, which the cache does not sit in front of
CACHE_FUNCTIONS = ("generate",)
BEDROCK_INVOKE = ("bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream")
#: functions that call models: routing, breakers and metrics tables, provider keys
MODEL_CALLERS = ("generate", "multi_generate", "debate_steps", "chain_steps", "batch_steps")
#: the providers file goes where a catalog is built: the model callers, and the workflows
#: API, which prices a chain against the catalog (models and deployments the file names
#: included) before it starts the run
PROVIDERS_FILE_FUNCTIONS = (*MODEL_CALLERS, "workflows_api")
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
        self.files_bucket = import_files_bucket(self, data)
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
        self.workflows = Workflows(
            self, config=config, data=data, functions=self.functions, bucket=self.files_bucket
        )
        self.chain, self.batch = self.workflows.chain, self.workflows.batch
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
        if name in WORKFLOW_FUNCTIONS:
            env.update(workflows_environment(config, name, self.files_bucket))
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
        if self.config.providers_file and name in PROVIDERS_FILE_FUNCTIONS:
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
                resources=[executions(machine)],
            )
        )
        api.add_environment(env_name("debate_state_machine_arn"), machine.state_machine_arn)

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
