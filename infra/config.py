"""Stage configuration: one typed object per stage (dev, prod), chosen with ``-c stage=``.

Every knob the stacks read lives here, with the defaults a new account can deploy. Override
any field for one deployment with ``-c overrides='{"alarm_email": "ops@example.com"}'``
(JSON, validated like the rest), or edit the presets below.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from orchestra.cache.records import MAX_TTL_S, Namespace
from orchestra.config import Settings, env_name

GuardrailMode = Literal["block", "flag", "off"]
#: Bedrock's own patterns for ``guardrailIdentifier`` (an id or a guardrail ARN) and version
GUARDRAIL_ID = (
    r"^([a-z0-9]+|arn:aws(-[^:]+)?:bedrock:[a-z0-9-]{1,20}:[0-9]{12}:guardrail/[a-z0-9]+)$"
)
GUARDRAIL_VERSION = r"^([1-9][0-9]{0,7}|DRAFT)$"


class Sizing(BaseModel):
    """One function's memory, timeout and (optional) reserved concurrency."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    memory_mb: int = Field(ge=128, le=10240)
    #: None for the streaming functions: derived from the stage's ``request_timeout_s``
    timeout_s: int | None = Field(default=None, ge=1, le=900)
    #: None = share the account's pool (a new account's limit of 10 cannot reserve any)
    reserved_concurrency: int | None = Field(default=None, ge=0)


class UsagePlan(BaseModel):
    """A usage plan clients are attached to with ``orchestra keys create``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    rate_per_s: float = Field(gt=0)
    burst: int = Field(gt=0)
    requests_per_day: int | None = Field(default=None, gt=0)


class GovernanceDefaults(BaseModel):
    """Stage-wide defaults of the governance settings, each named as its
    ``orchestra.config.Settings`` field and shipped as that setting's environment variable
    to the functions that admit requests; None leaves the application's default."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    guardrail_injection: GuardrailMode | None = None
    guardrail_secrets: GuardrailMode | None = None
    guardrail_size: GuardrailMode | None = None
    guardrail_max_message_chars: int | None = Field(default=None, gt=0)
    redact_output: bool | None = None
    redact_lookbehind_chars: int | None = Field(default=None, ge=16, le=1024)
    policy_cache_s: float | None = Field(default=None, ge=0)
    hold_ttl_s: int | None = Field(default=None, ge=60)

    def environment(self) -> dict[str, str]:
        """The set fields as environment variables (``ORCHESTRA_GUARDRAIL_INJECTION=block``)."""
        return {
            env_name(field): json.dumps(value) if isinstance(value, bool) else str(value)
            for field, value in self.model_dump(exclude_none=True).items()
        }


class CacheDefaults(BaseModel):
    """Stage-wide defaults of the answer cache (docs/cache.md). Each field ``x`` but the
    vector store's is the setting ``cache_x``, shipped as ``ORCHESTRA_CACHE_X`` to the
    functions that serve answers; None leaves the application's default (the cache off
    unless a key's policy or a request asks). The cache table is always there: a request
    may opt in with ``x-orchestra-cache-ttl`` whatever the stage says."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    ttl_s: int | None = Field(default=None, ge=0, le=MAX_TTL_S)
    namespace: Namespace | None = None
    sampled: bool | None = None
    allow_stale: bool | None = None
    stale_keep_s: int | None = Field(default=None, ge=0)
    memory_bytes: int | None = Field(default=None, ge=0)
    #: semantic lookups for every key by default (also builds the vector store)
    semantic: bool | None = None
    semantic_threshold: float | None = Field(default=None, ge=0.5, le=1.0)
    #: the embedding model of the semantic cache: its vectors must have ``vector_dimension``
    embedding_model: str | None = None
    #: build the S3 Vectors bucket and index (None: when ``semantic`` is on); true with
    #: ``semantic`` off: keys opt in by their policy
    vector_store: bool | None = None
    #: the index's dimension (fixed at creation; a change replaces the index)
    vector_dimension: int = Field(default=1024, ge=1, le=4096)

    @property
    def builds_vectors(self) -> bool:
        return bool(self.semantic) if self.vector_store is None else self.vector_store

    @model_validator(mode="after")
    def _embedding_model_named(self) -> CacheDefaults:
        if self.builds_vectors and self.embedding_model in (None, "auto"):
            raise ValueError(
                "cache.embedding_model must name the embedding model whose vectors have "
                f"cache.vector_dimension ({self.vector_dimension}) dimensions: the vector "
                "index's dimension is fixed, 'auto' may route elsewhere"
            )
        return self

    def environment(self) -> dict[str, str]:
        """The set fields as environment variables (``ORCHESTRA_CACHE_TTL_S=300``)."""
        fields = self.model_dump(exclude_none=True, exclude={"vector_store", "vector_dimension"})
        return {
            env_name(f"cache_{field}"): json.dumps(value) if isinstance(value, bool) else str(value)
            for field, value in fields.items()
        }


#: a batch's chunks at most: ~16 bytes of Map result each stays well under 256 KiB
MAX_BATCH_CHUNKS = 10_000


class WorkflowDefaults(BaseModel):
    """Stage-wide limits of chains and batches (docs/workflows.md), each named as its
    ``orchestra.config.Settings`` field and shipped as that setting's environment variable
    to the functions that check them; None leaves the application's default."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    chain_max_steps: int | None = Field(default=None, ge=1)
    chain_max_depth: int | None = Field(default=None, ge=1)
    chain_max_fanout: int | None = Field(default=None, ge=1)
    chain_max_cost_usd: float | None = Field(default=None, gt=0)
    batch_max_lines: int | None = Field(default=None, ge=1)
    batch_chunk_lines: int | None = Field(default=None, ge=1, le=10_000)
    #: lines of one chunk in flight at once in batch_steps (the app's default: 8)
    batch_line_concurrency: int | None = Field(default=None, ge=1, le=256)

    @model_validator(mode="after")
    def _chunks_fit_the_map_result(self) -> WorkflowDefaults:
        """The Distributed Map returns its children's results (``{"chunk": n}`` each) in its
        state output, which Step Functions caps at 256 KiB: at most MAX_BATCH_CHUNKS chunks."""
        fields = Settings.model_fields
        lines = self.batch_max_lines or fields["batch_max_lines"].default
        chunk = self.batch_chunk_lines or fields["batch_chunk_lines"].default
        if -(-lines // chunk) > MAX_BATCH_CHUNKS:
            raise ValueError(
                f"workflows.batch_max_lines / batch_chunk_lines ({lines} / {chunk}) makes more "
                f"than {MAX_BATCH_CHUNKS} chunks: the batch machine's Map result would pass "
                "Step Functions' 256 KiB; raise batch_chunk_lines"
            )
        return self

    def environment(self) -> dict[str, str]:
        """The set fields as environment variables (``ORCHESTRA_CHAIN_MAX_STEPS=50``)."""
        return {
            env_name(field): str(value)
            for field, value in self.model_dump(exclude_none=True).items()
        }


API_FUNCTIONS = ("generate", "multi_generate", "debate_api", "admin", "workflows_api")
#: the Step Functions tasks of chains and batches: they call models
WORKFLOW_STEPS = ("chain_steps", "batch_steps")
ALL_FUNCTIONS = (*API_FUNCTIONS, "authorizer", "debate_steps", "sync", *WORKFLOW_STEPS)
#: Lambda's synchronous request payload (6 MB) holds a multipart upload base64-encoded
#: (4/3 larger) with the event around it: the largest file ``POST /v1/files`` takes deployed
MAX_UPLOAD_BYTES = 4_500_000
#: answer through the streaming runtime, behind ``responseTransferMode: STREAM`` routes
STREAMING_FUNCTIONS = ("generate", "multi_generate")
#: API Gateway's idle timeout for a streamed response on a REGIONAL endpoint (edge: 30 s)
IDLE_TIMEOUT_S = 300
#: the app gives up this long before API Gateway would, to write its own error (an SSE
#: error event, or an OpenAI-shaped 504) and flush its logs and metrics
DEADLINE_MARGIN_S = 5
#: the function outlives the integration by this much: never killed mid-answer
FUNCTION_MARGIN_S = 5


class StageConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    stage: Literal["dev", "prod"]
    #: prefix of every stack name: ``<prefix>-<stage>-data`` / ``<prefix>-<stage>-service``
    prefix: str = "Orchestra"
    python: Literal["3.12", "3.13"] = "3.13"
    log_retention_days: int = 30
    #: keep log groups of the service stack when it is destroyed
    retain_logs: bool = False
    #: Lambda SnapStart on the API functions and the authorizer (published versions)
    snapstart: bool = True
    #: how long one chat or multi-generate request may take, streamed or not: API
    #: Gateway's integration timeout on their STREAM routes (at most 15 min). The request
    #: deadline is this minus DEADLINE_MARGIN_S; answers sent whole are also bounded by the
    #: idle timeout (nothing is sent until they are done); the functions' timeout is this
    #: plus FUNCTION_MARGIN_S. See docs/streaming.md.
    request_timeout_s: int = Field(default=300, ge=30, le=900 - FUNCTION_MARGIN_S)
    #: an SSE comment after this many silent seconds (below every idle timeout on the way)
    stream_keepalive_s: int = Field(default=15, ge=1, le=60)
    functions: dict[str, Sizing] = Field(
        default_factory=lambda: {
            # timeouts derived from request_timeout_s (see function_timeout_s)
            "generate": Sizing(memory_mb=1024),
            "multi_generate": Sizing(memory_mb=1024),
            "debate_api": Sizing(memory_mb=512, timeout_s=10),
            "authorizer": Sizing(memory_mb=256, timeout_s=5),
            "debate_steps": Sizing(memory_mb=1024, timeout_s=180),
            "sync": Sizing(memory_mb=512, timeout_s=300),
            # key and team administration, spend reports: a few AWS calls per request
            "admin": Sizing(memory_mb=512, timeout_s=25),
            # chains, files, batches: uploads parsed and validated line by line in memory
            "workflows_api": Sizing(memory_mb=1024, timeout_s=29),
            # one chain step (or one parallel branch / map item with its nested steps)
            "chain_steps": Sizing(memory_mb=1024, timeout_s=330),
            # prepare reads the whole input file; a chunk's lines run concurrently;
            # finalize joins the parts in 8 MB multipart buffers: memory and Lambda's maximum
            "batch_steps": Sizing(memory_mb=2048, timeout_s=900),
        }
    )
    #: stage-wide throttling (per client it is the usage plan's)
    throttle_rate_per_s: float = 50
    throttle_burst: int = 100
    usage_plans: tuple[UsagePlan, ...] = (
        UsagePlan(name="standard", rate_per_s=5, burst=10, requests_per_day=10_000),
        UsagePlan(name="unlimited", rate_per_s=50, burst=100),
    )
    #: the usage plan (one of ``usage_plans``) that keys created through the admin API join
    key_usage_plan: str = "standard"
    #: seconds API Gateway caches an authorizer decision per key (0 = never)
    authorizer_cache_s: int = Field(default=300, ge=0, le=3600)
    #: request bodies above this are refused (WAF at the edge, the app again behind it)
    max_body_bytes: int = 1_048_576
    #: AWS WAF web ACL on the stage: body size limit, per-IP rate limit, AWS common rules
    waf: bool = True
    waf_requests_per_5min_per_ip: int = 3000
    #: an orchestra.yaml (providers, their models, deployments of a model) for the
    #: functions that call models: validated at synth and shipped compact in their
    #: environment (ORCHESTRA_CONFIG_JSON); keys stay in the provider keys secret
    providers_file: str | None = None
    #: grant bedrock:InvokeModel* (Bedrock models in this region, with the function role)
    bedrock: bool = True
    #: Amazon Bedrock Guardrails (ApplyGuardrail) on every request's input and output, for
    #: any provider: the guardrail's id (or ARN) and version ("DRAFT" or a number), both or
    #: neither; the model callers may apply this one guardrail and no other
    bedrock_guardrail_id: str | None = Field(default=None, pattern=GUARDRAIL_ID)
    bedrock_guardrail_version: str | None = Field(default=None, pattern=GUARDRAIL_VERSION)
    #: the governance defaults every key gets unless its policy says otherwise
    governance: GovernanceDefaults = Field(default_factory=GovernanceDefaults)
    #: the answer cache's defaults (and its vector store, when semantic lookups are on)
    cache: CacheDefaults = Field(default_factory=CacheDefaults)
    debate_turn_timeout_s: int = 150
    #: the chain machine's task timeout for one step (below the chain_steps function's)
    chain_step_timeout_s: int = Field(default=300, ge=10, le=900)
    #: a chain's parallel branches / map items running at once (the inline Map's bound)
    chain_max_concurrency: int = Field(default=16, ge=1, le=40)
    #: chunks of one batch processed at once (the Distributed Map's MaxConcurrency)
    batch_concurrency: int = Field(default=8, ge=1, le=1000)
    #: the largest file ``POST /v1/files`` accepts (Lambda's 6 MB request payload, base64)
    upload_max_bytes: int = Field(default=MAX_UPLOAD_BYTES, ge=1024, le=MAX_UPLOAD_BYTES)
    #: uploaded files, batch output and error files (and their records) are deleted after
    #: this many days (the bucket's lifecycle rules, the workflows table's TTL)
    files_retention_days: int = Field(default=30, ge=1, le=3650)
    #: chain and batch limits (None: the application's defaults)
    workflows: WorkflowDefaults = Field(default_factory=WorkflowDefaults)
    alarm_email: str | None = None
    alarm_5xx_rate: float = 0.05
    #: whole answers of reasoning models take minutes: alarm on the unusual, not the normal
    alarm_p99_latency_ms: int = 120_000
    alarm_fallback_rate: float = 0.25

    @model_validator(mode="after")
    def _timeouts_consistent(self) -> StageConfig:
        for name, sizing in self.functions.items():
            if name not in STREAMING_FUNCTIONS and sizing.timeout_s is None:
                raise ValueError(f"functions.{name}.timeout_s is required")
            floor = self.request_timeout_s + FUNCTION_MARGIN_S
            streaming = name in STREAMING_FUNCTIONS and sizing.timeout_s is not None
            if streaming and not floor <= (sizing.timeout_s or 0) <= 900:
                raise ValueError(
                    f"functions.{name}.timeout_s must cover request_timeout_s "
                    f"({self.request_timeout_s} s) + {FUNCTION_MARGIN_S} s, at most 900 s"
                )
        return self

    @model_validator(mode="after")
    def _workflow_timeouts(self) -> StageConfig:
        steps = self.functions.get("chain_steps")
        if steps is not None and (steps.timeout_s or 0) < self.chain_step_timeout_s:
            raise ValueError(
                f"functions.chain_steps.timeout_s must be at least chain_step_timeout_s "
                f"({self.chain_step_timeout_s} s)"
            )
        return self

    @model_validator(mode="after")
    def _governance_consistent(self) -> StageConfig:
        if (self.bedrock_guardrail_id is None) != (self.bedrock_guardrail_version is None):
            raise ValueError("bedrock_guardrail_id and bedrock_guardrail_version go together")
        if self.key_usage_plan not in {plan.name for plan in self.usage_plans}:
            raise ValueError(f"key_usage_plan {self.key_usage_plan!r} is not in usage_plans")
        return self

    def usage_plan_name(self, plan: str) -> str:
        """The API Gateway name of the stage's usage plan ``plan`` (unique per stage)."""
        return f"{self.prefix}-{self.stage}-{plan}"

    def sizing(self, function: str) -> Sizing:
        return self.functions[function]

    def function_timeout_s(self, function: str) -> int:
        timeout = self.sizing(function).timeout_s
        if timeout is None:  # a streaming function: outlive the integration
            return self.request_timeout_s + FUNCTION_MARGIN_S
        return timeout

    @property
    def stream_deadline_s(self) -> int:
        """Streamed answers: the request deadline the app enforces."""
        return self.request_timeout_s - DEADLINE_MARGIN_S

    @property
    def buffered_deadline_s(self) -> int:
        """Answers sent whole: also within the idle timeout (their bytes leave at the end)."""
        return min(self.request_timeout_s, IDLE_TIMEOUT_S) - DEADLINE_MARGIN_S


PRESETS: dict[str, dict[str, Any]] = {
    "dev": {"stage": "dev", "log_retention_days": 14, "waf": False},
    "prod": {"stage": "prod", "log_retention_days": 90, "retain_logs": True},
}


def load_stage(stage: str, overrides: str | dict[str, Any] | None = None) -> StageConfig:
    """The preset for ``stage`` with ``overrides`` (a dict or JSON text) applied on top."""
    if stage not in PRESETS:
        raise ValueError(f"unknown stage {stage!r}: expected one of {sorted(PRESETS)}")
    extra = json.loads(overrides) if isinstance(overrides, str) else dict(overrides or {})
    return StageConfig.model_validate({**PRESETS[stage], **extra})
