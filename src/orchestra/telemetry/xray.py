"""``XRayAnnotations``: on Lambda, the request span's GenAI attributes as X-Ray annotations.

Powertools' Tracer already opens a segment per invocation (``capture_lambda_handler``) and
a subsegment per boto3 call; this observer adds what the OpenTelemetry request span carries
(the answering model, its tokens, cost, fallbacks, a refusal's code) as annotations on the
handler's subsegment, and one subsegment per upstream attempt, so X-Ray's filter expressions can select on them
(``annotation.gen_ai_response_model = "openai/gpt-4o-mini"``). Annotation keys allow only
letters, digits and underscores: ``gen_ai.usage.input_tokens`` becomes
``gen_ai_usage_input_tokens``. Nothing is imported: the Tracer is handed in (None where
tracing is off), and the X-Ray SDK ships the subsegments with the invocation's segment.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from orchestra.errors import ProviderError
    from orchestra.observability import Fused
    from orchestra.schemas.chat import Usage


class XRayAnnotations:
    """An observer writing annotations through a Powertools ``Tracer``."""

    def __init__(self, tracer: Any) -> None:
        self.tracer = tracer

    def attempt(self, model_id: str, error: ProviderError | None, latency_ms: float) -> None:
        """One subsegment per upstream attempt (``chat <model>``), backdated to when the
        attempt began: it is reported once its outcome is known."""
        with self.tracer.provider.in_subsegment(name=f"chat {model_id}") as subsegment:
            subsegment.start_time = time.time() - latency_ms / 1000.0
            subsegment.put_annotation("gen_ai_request_model", model_id)
            subsegment.put_annotation("orchestra_outcome", "ok" if error is None else error.code)
        if error is not None:  # the last failure is enough to find the trace
            self.tracer.put_annotation("orchestra_failed_model", model_id)
            self.tracer.put_annotation("error_type", error.code)

    def completed(
        self,
        model_id: str,
        *,
        usage: Usage | None,
        cost_usd: float,
        latency_ms: float,
        fallbacks: int,
    ) -> None:
        put = self.tracer.put_annotation
        put("gen_ai_response_model", model_id)
        if usage is not None:
            put("gen_ai_usage_input_tokens", usage.prompt_tokens)
            put("gen_ai_usage_output_tokens", usage.completion_tokens)
        put("orchestra_cost_usd", cost_usd)
        put("orchestra_fallbacks", fallbacks)

    def breaker_opened(self, model_id: str) -> None:
        self.tracer.put_annotation("orchestra_breaker_opened", model_id)

    def hedged(self, model_id: str, *, won: bool, cost_usd: float) -> None:
        self.tracer.put_annotation("orchestra_hedge_won", won)

    def fused(self, summary: Fused) -> None:
        self.tracer.put_annotation("orchestra_fusion_strategy", summary.strategy)

    def guardrail(self, check: str, rule: str, action: str) -> None:
        self.tracer.put_annotation("orchestra_guardrail", f"{check}:{action}")

    def refused(self, code: str) -> None:
        self.tracer.put_annotation("orchestra_refusal", code)

    def cache(self, outcome: str, match: str | None, saved_usd: float) -> None:
        """``annotation.orchestra_cache = "hit"`` finds the answers served from cache."""
        self.tracer.put_annotation("orchestra_cache", outcome)
        if match is not None:
            self.tracer.put_annotation("orchestra_cache_match", match)
