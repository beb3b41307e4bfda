"""Settings, read once from the environment (``ORCHESTRA_*``) and passed in."""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

#: the load-balancing strategies (:mod:`orchestra.resilience.strategies`), by name
LbStrategy = Literal[
    "composite", "round_robin", "weighted", "least_latency", "error_aware", "least_outstanding"
]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ORCHESTRA_", extra="ignore")

    #: "local" = in-memory stores, env keys; "aws" = DynamoDB tables and Secrets Manager
    mode: Literal["local", "aws"] = "local"
    #: path of the providers file (orchestra.yaml); optional
    config: str | None = None
    #: the providers file's content as JSON (deployed: set by the stack from the stage's
    #: ``providers_file``); ``config`` wins when both are set
    config_json: str | None = None
    #: comma-separated client keys accepted on ``Authorization: Bearer``
    api_keys: str | None = Field(default=None, repr=False)
    #: Secrets Manager ids (AWS mode)
    provider_keys_secret: str | None = None
    api_keys_secret: str | None = None
    secrets_cache_s: int = 300
    #: behind API Gateway's token authorizer (which already checked the key): skip the
    #: app's own check, and with it a Secrets Manager read per cold start
    trust_gateway_auth: bool = False

    models_table: str | None = None
    breakers_table: str | None = None
    metrics_table: str | None = None
    debates_table: str | None = None
    #: OpenAI Responses answers (``store: true``), kept this many days for
    #: ``previous_response_id`` and ``GET /v1/responses/{id}``
    responses_table: str | None = None
    #: key and team policies, budgets and rate-limit ledgers (docs/governance.md)
    governance_table: str | None = None
    responses_ttl_days: int = Field(default=30, ge=1)
    #: the debate state machine (AWS mode: debates run as its executions)
    debate_state_machine_arn: str | None = None
    #: workflows (docs/workflows.md): chains, chain runs, files and batches
    workflows_table: str | None = None
    #: batch input, output and error files (AWS mode: S3; locally in memory)
    files_bucket: str | None = None
    #: the generic chain state machine and the batch state machine (AWS mode)
    chain_state_machine_arn: str | None = None
    batch_state_machine_arn: str | None = None
    #: chain runs and batches are kept this many days (chain definitions until deleted)
    workflows_ttl_days: int = Field(default=30, ge=1)
    #: a chain's limits, checked before a run starts: steps in all (nested included),
    #: nesting depth, branches or items of one parallel/map step, and the run's estimated
    #: worst-case cost in USD (None: no gateway-wide cap; a chain may set a lower one)
    chain_max_steps: int = Field(default=50, ge=1)
    chain_max_depth: int = Field(default=3, ge=1)
    chain_max_fanout: int = Field(default=32, ge=1)
    chain_max_cost_usd: float | None = Field(default=None, gt=0)
    #: a batch input file: bytes and lines at most (OpenAI's own limits: 200 MB, 50,000)
    batch_max_file_bytes: int = Field(default=200_000_000, ge=1)
    batch_max_lines: int = Field(default=50_000, ge=1)
    #: lines per chunk (one task invocation), and chunks processed at once
    batch_chunk_lines: int = Field(default=100, ge=1, le=10_000)
    batch_concurrency: int = Field(default=8, ge=1, le=1_000)
    #: lines of one chunk in flight at once (inside one batch_steps invocation); at most
    #: batch_concurrency x this many requests of one batch run together
    batch_line_concurrency: int = Field(default=8, ge=1, le=256)
    #: GET /v1/files/{id}/content answers a larger file with a 302 to a presigned S3 URL
    #: (a Lambda response is at most 6 MB); locally (memory) the bytes are always served
    files_inline_bytes: int = Field(default=5_000_000, ge=0)
    #: Bedrock (Converse) in this region, signed with the function's role
    bedrock_region: str | None = None
    catalog_cache_s: int = 300

    #: catalog syncs: where each source is read, how sure a name match must be (0-100)
    sync_openrouter_url: str = "https://openrouter.ai/api/v1/models"
    sync_lmarena_url: str = (
        "https://raw.githubusercontent.com/lmarena/arena-catalog/main/data/leaderboard-text.json"
    )
    sync_lmarena_category: str = "full"
    sync_huggingface_url: str = "https://huggingface.co"
    sync_match_threshold: float = Field(default=90.0, ge=50.0, le=100.0)
    sync_timeout_s: float = 30.0

    default_profile: str = "balanced"
    #: whole-request budget, seconds, all retries and fallbacks included: a streamed answer
    #: still running then ends with an error event (deployed: the stage's limit minus a
    #: margin, see infra/config.py and docs/streaming.md)
    request_deadline_s: float = 300.0
    #: the same for answers that are not streamed (None: ``request_deadline_s``); their
    #: bytes leave only at the end, so API Gateway's idle timeout bounds them too
    buffered_deadline_s: float | None = None
    #: an SSE comment after this many silent seconds (long reasoning) keeps proxies, API
    #: Gateway's idle timeout and clients from closing the stream; 0 = never
    stream_keepalive_s: float = Field(default=15.0, ge=0.0)
    #: once built, freeze the start-up heap and make collections rarer (compose/heap.py)
    gc_tuning: bool = True
    #: attempts per model before falling back (1 = no retry on the same model)
    attempts_per_model: int = 2
    max_candidates: int = 4
    max_body_bytes: int = 1_048_576
    #: multi-generate: most models one request may fan out to, and how many by default
    multi_max_models: int = 8
    multi_default_count: int = 3
    #: allow base URLs in private ranges (a self-hosted vLLM in the VPC, Ollama on a laptop)
    allow_private_base_urls: bool = False

    #: load balancing across a model's deployments (docs/resilience.md): "composite",
    #: "round_robin", "weighted", "least_latency", "error_aware", "least_outstanding"
    lb_strategy: LbStrategy = "composite"
    #: below this share of an upstream's request or token quota (its rate-limit headers),
    #: a deployment is steered away from until the quota resets
    lb_ratelimit_low_water: float = Field(default=0.02, ge=0.0, le=1.0)
    #: first-token budget per attempt: this multiple of the deployment's observed
    #: ``first_token_quantile`` time to first token, within [floor, ceiling] seconds
    first_token_multiplier: float = Field(default=3.0, gt=0.0)
    first_token_quantile: float = Field(default=0.95, gt=0.0, lt=1.0)
    first_token_floor_s: float = Field(default=1.0, gt=0.0)
    first_token_ceiling_s: float = Field(default=30.0, gt=0.0)
    #: hedging: a second candidate starts when the first token is later than the
    #: deployment's ``hedge_quantile`` time to first token (never sooner than the minimum)
    hedge: bool = True
    hedge_quantile: float = Field(default=0.9, gt=0.0, lt=1.0)
    hedge_min_delay_s: float = Field(default=0.25, ge=0.0)
    #: hedges per client key per minute, and the estimated cost above which none is sent
    hedge_per_minute: int = Field(default=30, ge=0)
    hedge_max_cost_usd: float = Field(default=0.05, ge=0.0)
    #: a stream broken after its first byte continues on the next candidate
    continue_streams: bool = True

    breaker_failures: int = 5
    breaker_window_s: float = 60.0
    breaker_cooldown_s: float = 30.0
    breaker_cache_s: float = 2.0

    #: force the simulator even when real providers are configured
    simulator: bool = False
    simulator_seed: int = 7
    simulator_latency_scale: float = 1.0
    simulator_failure_rate: float = 0.0
    #: a JSONL of questions and answers (``question``, ``answer``, optional ``choices``) the
    #: simulator answers from, right at each model's accuracy (``orchestra eval``'s oracle)
    simulator_oracle: str | None = None
    #: per-model accuracy for the oracle's questions: ``sim-large=0.9,sim-small=0.5``
    simulator_accuracy: str | None = None

    # --- governance (docs/governance.md) -------------------------------------------------
    #: comma-separated admin keys (local serve; deployed, an admin is a client key whose
    #: policy says ``admin: true``): they may call ``/v1/admin/*`` and any key's spend
    admin_keys: str | None = Field(default=None, repr=False)
    #: the API Gateway usage plan that keys created through the admin API join (deployed):
    #: its id, or its name (the stack sets ``<prefix>-<stage>-<plan>``: the plan's id cannot
    #: reach the function's environment, the plan depending on the API stage that routes to
    #: the function), resolved once per instance with GetUsagePlans
    key_usage_plan: str | None = None
    #: a key or team policy is read from its table at most this often per instance
    policy_cache_s: float = Field(default=30.0, ge=0.0)
    #: a hold left by a request that never settled (a crash) is reclaimed after this long
    hold_ttl_s: int = Field(default=900, ge=60)
    #: the guardrails every key gets unless its policy says otherwise: block | flag | off
    guardrail_injection: Literal["block", "flag", "off"] = "off"
    guardrail_secrets: Literal["block", "flag", "off"] = "off"
    guardrail_size: Literal["block", "flag", "off"] = "off"
    #: the size guardrail's limit, characters per message
    guardrail_max_message_chars: int = Field(default=100_000, gt=0)
    #: redact secrets and PII in answers (streams too) for every key unless its policy says
    redact_output: bool = False
    #: the output redactor's look-behind in a stream, characters (what a split pattern needs)
    redact_lookbehind_chars: int = Field(default=64, ge=16, le=1024)
    #: Amazon Bedrock Guardrails (ApplyGuardrail) on input and output, for any provider
    bedrock_guardrail_id: str | None = None
    bedrock_guardrail_version: str | None = None

    # --- cache (docs/cache.md) -------------------------------------------------------------
    #: the second level (DynamoDB, TTL): answers shared by every instance; None: the
    #: in-process LRU alone
    cache_table: str | None = None
    #: seconds an answer stays fresh for every key unless its policy says; 0: nothing is
    #: cached unless a key's policy or the request asks (``x-orchestra-cache-ttl``)
    cache_ttl_s: int = Field(default=0, ge=0, le=30 * 86_400)
    #: whose answers a request may be served: its key's, its team's, or everyone's
    cache_namespace: Literal["key", "team", "global"] = "key"
    #: cache answers sampled at a temperature above 0 (or unset) without the request asking
    cache_sampled: bool = False
    #: when every candidate fails, serve the last cached answer past its TTL by default
    cache_allow_stale: bool = False
    #: how long past its TTL an answer is kept for those offline answers (second level)
    cache_stale_keep_s: int = Field(default=7 * 86_400, ge=0)
    #: the in-process LRU's bound, and the largest answer stored (bytes)
    cache_memory_bytes: int = Field(default=64 * 1024 * 1024, ge=0)
    cache_max_entry_bytes: int = Field(default=256 * 1024, ge=1024, le=380 * 1024)
    #: semantic lookups for every key (the last user message embedded), and how close a
    #: question must be (cosine) to reuse an answer
    cache_semantic: bool = False
    cache_semantic_threshold: float = Field(default=0.95, ge=0.5, le=1.0)
    #: the embedding model the semantic cache asks (through the gateway's own routing)
    cache_embedding_model: str = "auto"
    #: deployed semantic cache: the S3 Vectors bucket and index (None: vectors in memory)
    cache_vector_bucket: str | None = None
    cache_vector_index: str | None = None

    # --- telemetry ------------------------------------------------------------------------
    #: ``/metrics`` in Prometheus' text format (``orchestra serve``)
    prometheus: bool = True
    #: OpenTelemetry spans (GenAI semantic conventions) exported by OTLP/HTTP to this
    #: endpoint (also read from ``OTEL_EXPORTER_OTLP_ENDPOINT``); None: no spans
    otel_endpoint: str | None = None

    log_level: str = "INFO"

    @property
    def buffered_deadline(self) -> float:
        return self.buffered_deadline_s or self.request_deadline_s


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()


def env_name(field: str) -> str:
    """The environment variable that sets ``field`` (the CDK stacks use this, not literals)."""
    if field not in Settings.model_fields:
        raise KeyError(f"no setting named {field!r}")
    return f"{Settings.model_config.get('env_prefix', '')}{field}".upper()
