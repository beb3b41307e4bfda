"""The router: a request and a profile in, a ranked chain of candidates out.

Two stages keep a decision cheap over large catalogs: models are ranked once per catalog
for every (profile, complexity) pair; a request then walks that order, skipping models that
cannot serve it, and re-scores the short list with latency observed in this process.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from orchestra.catalog.models import Catalog, ModelInfo
from orchestra.errors import InvalidRequest, NoCandidates, UnknownModel
from orchestra.routing.complexity import classify
from orchestra.routing.profiles import COMPLEXITIES, PROFILES, Complexity, Profile, get_profile
from orchestra.routing.scorer import Features, features_of, quality_range, speed_score
from orchestra.schemas.chat import ChatRequest
from orchestra.tokens import estimate_prompt_tokens

#: output room reserved when the request gives no max_tokens
DEFAULT_OUTPUT_RESERVE = 1024
MAX_REJECTED_REPORTED = 10
#: the reject reason of a model whose provider cannot run the request's built-in tools
BUILTIN_UNSUPPORTED = "builtin_tools_unsupported"


@dataclass(frozen=True)
class Candidate:
    """One deployment in the chain (``model``: the catalog entry that is called).

    ``group``: the model it is a deployment of (its other deployments sit next to it in
    the chain, ordered by load balancing); "" when it has no other deployment."""

    model: ModelInfo
    score: float
    breakdown: dict[str, float]
    group: str = ""


@dataclass
class RoutePlan:
    profile: str
    complexity: Complexity | None
    prompt_tokens: int
    candidates: list[Candidate]
    rejected: list[tuple[str, str]] = field(default_factory=list)
    #: candidates whose breaker is open, best first: the last resort when all are open
    held: list[Candidate] = field(default_factory=list)
    #: load balancing's decisions, one per model with several deployments (candidates,
    #: scores, choice), as sent in ``x-orchestra-route``
    balancing: list[dict[str, Any]] = field(default_factory=list)

    def reject(self, model_id: str, reason: str) -> None:
        if len(self.rejected) < MAX_REJECTED_REPORTED:
            self.rejected.append((model_id, reason))

    def explain(self, chosen: str | None) -> dict[str, Any]:
        """Why ``chosen``: the profile, its score breakdown, the chain and what was rejected
        (the api layer sends it as ``x-orchestra-route``)."""
        pick = next((c for c in self.candidates if c.model.id == chosen), None)
        return {
            "profile": self.profile,
            "complexity": self.complexity,
            "chosen": chosen,
            "breakdown": pick.breakdown if pick else None,
            "chain": [c.model.id for c in self.candidates],
            "rejected": [{"model": m, "reason": r} for m, r in self.rejected],
        }


class _Index:
    """Per-catalog precomputation: features and one static order per profile x complexity."""

    def __init__(self, models: list[ModelInfo]) -> None:
        low, high = quality_range(models)
        self.features = {m.id: features_of(m, low, high) for m in models}
        self.order: dict[tuple[str, Complexity], list[ModelInfo]] = {}
        for profile in PROFILES.values():
            for complexity in COMPLEXITIES:
                shifted = profile.shifted(complexity)
                ranked = sorted(models, key=lambda m: -self.features[m.id].score(shifted))
                self.order[(profile.name, complexity)] = ranked


class Router:
    """``providers``: the configured ones; ``builtin_tools``: those of them that run
    Responses built-in tools (decided at composition: OpenAI itself).

    ``stand_in``: a catalog model named explicitly that no configured provider serves is
    answered by the profile's route instead of refused (the rejection stays in the plan, so
    ``x-orchestra-route`` says so). Composition turns it on when the simulator is the only
    provider: locally, any client's model names (Claude Code's ``claude-sonnet-4-5``) get a
    simulated answer rather than a 400."""

    def __init__(
        self,
        providers: set[str],
        max_candidates: int = 4,
        *,
        builtin_tools: set[str] | frozenset[str] = frozenset(),
        stand_in: bool = False,
    ) -> None:
        self.providers = providers
        self.stand_in = stand_in
        self.max_candidates = max_candidates
        self.builtin_tools = frozenset(builtin_tools)
        self._catalog: Catalog | None = None
        self._index: _Index | None = None

    def _index_for(self, catalog: Catalog) -> _Index:
        if catalog is not self._catalog or self._index is None:
            chat = [m for m in catalog if m.provider in self.providers and not m.is_embedding]
            self._index = _Index(chat)
            self._catalog = catalog
        return self._index

    def rankings(self, catalog: Catalog, profile_name: str) -> list[Candidate]:
        """Every routable model for a profile (medium complexity), best first."""
        profile = get_profile(profile_name)
        index = self._index_for(catalog)
        return [
            self._candidate(m, index.features[m.id], profile)
            for m in index.order[(profile.name, "medium")]
        ]

    def plan(
        self,
        request: ChatRequest,
        catalog: Catalog,
        *,
        default_profile: str = "balanced",
        observed_ms: Callable[[str], float | None] | None = None,
        extra: int = 4,
    ) -> RoutePlan:
        """A ranked chain (``max_candidates`` + ``extra`` spares for open breakers)."""
        profile_name, explicit = _parse_model_field(request, default_profile)
        profile = get_profile(profile_name)
        tokens = estimate_prompt_tokens(request)
        refused: str | None = None
        if explicit is not None:
            try:
                return self._explicit_plan(request, catalog, profile, explicit, tokens)
            except NoCandidates:  # a name the catalog does not know stays a 404
                if not self.stand_in:
                    raise
                refused = explicit
        complexity = classify(request)
        plan = RoutePlan(profile.name, complexity, tokens, [])
        if refused is not None:
            plan.reject(refused, "not_served_here:stand_in")
        index = self._index_for(catalog)
        shifted = profile.shifted(complexity)
        wanted = self.max_candidates + extra
        shortlist: list[ModelInfo] = []
        for model in index.order[(profile.name, complexity)]:
            reason = unfit_reason(model, request, tokens, builtin=self.builtin_tools)
            if reason:
                plan.reject(model.id, reason)
                continue
            shortlist.append(model)
            if len(shortlist) >= wanted:
                break
        plan.candidates = self._rescore(shortlist, index, shifted, observed_ms)
        if not plan.candidates:
            raise no_candidates(plan, request)
        return plan

    def _rescore(
        self,
        shortlist: list[ModelInfo],
        index: _Index,
        profile: Profile,
        observed_ms: Callable[[str], float | None] | None,
    ) -> list[Candidate]:
        scored = []
        for model in shortlist:
            features = index.features[model.id]
            seen = observed_ms(model.id) if observed_ms else None
            if seen is not None:
                features = features.with_speed(speed_score(seen))
            scored.append(self._candidate(model, features, profile))
        scored.sort(key=lambda c: -c.score)
        return scored

    @staticmethod
    def _candidate(model: ModelInfo, features: Features, profile: Profile) -> Candidate:
        breakdown = features.breakdown(profile)
        return Candidate(model, breakdown["score"], breakdown)

    def _explicit_plan(
        self,
        request: ChatRequest,
        catalog: Catalog,
        profile: Profile,
        model_id: str,
        tokens: int,
    ) -> RoutePlan:
        plan = RoutePlan(profile.name, None, tokens, [])
        chain = [_chat_model(catalog.get(model_id, self.providers), "model")]
        for i, name in enumerate(request.fallbacks or []):
            try:
                chain.append(_chat_model(catalog.get(name, self.providers), f"fallbacks[{i}]"))
            except UnknownModel as exc:
                raise UnknownModel(exc.message, param=f"fallbacks[{i}]") from exc
        index = self._index_for(catalog)
        for model in dict.fromkeys(chain):
            reason = "provider_not_configured" if model.provider not in self.providers else None
            reason = reason or unfit_reason(model, request, tokens, builtin=self.builtin_tools)
            if reason:
                plan.reject(model.id, reason)
                continue
            # configured and in this catalog, so in its index
            plan.candidates.append(self._candidate(model, index.features[model.id], profile))
        if not plan.candidates:
            raise no_candidates(plan, request)
        return plan


def _chat_model(model: ModelInfo, param: str) -> ModelInfo:
    """``model``, unless it is an embedding model (it cannot chat): a 400 naming ``param``."""
    if model.is_embedding:
        raise InvalidRequest(
            f"'{model.id}' is an embedding model: it cannot answer chat requests "
            "(use POST /v1/embeddings)",
            param=param,
            code="model_not_supported",
        )
    return model


def _parse_model_field(request: ChatRequest, default_profile: str) -> tuple[str, str | None]:
    """(profile, explicit model id or None) from ``model`` and the ``profile`` extension."""
    model = request.model.strip()
    profile = request.profile or default_profile
    if model == "auto":
        return profile, None
    if model.startswith("auto:"):
        return model.removeprefix("auto:"), None
    if model in PROFILES:  # "quality", "budget"... as a model name
        return model, None
    return profile, model


def unfit_reason(
    model: ModelInfo,
    request: ChatRequest,
    prompt_tokens: int,
    *,
    builtin: frozenset[str] = frozenset(),
) -> str | None:
    """Why a model cannot serve this request, or None (``builtin``: the providers that
    run Responses built-in tools)."""
    reserve = request.output_limit() or min(DEFAULT_OUTPUT_RESERVE, model.max_output_tokens)
    if model.is_embedding:
        return "embedding_model"
    if prompt_tokens + reserve > model.context_window:
        return f"context_window({prompt_tokens}+{reserve}>{model.context_window})"
    limit = request.output_limit()
    if limit is not None and limit > model.max_output_tokens:
        return f"max_output_tokens({model.max_output_tokens})"
    if request.tools and "tools" not in model.capabilities:
        return "no_tool_support"
    if any(m.has_images() for m in request.messages) and "vision" not in model.capabilities:
        return "no_vision_support"
    if request.stream and "streaming" not in model.capabilities:
        return "no_streaming"
    if _builtin_tools(request) and model.provider not in builtin:
        return BUILTIN_UNSUPPORTED
    return None


def _builtin_tools(request: ChatRequest) -> tuple[tuple[int, str], ...]:
    return request.native.builtin_tools if request.native is not None else ()


def no_candidates(plan: RoutePlan, request: ChatRequest) -> NoCandidates:
    """The 400 for a plan left empty; a request with built-in tools that no candidate runs
    names the first such tool (``tools[i].type``) and who runs them."""
    tools = _builtin_tools(request)
    reasons = {reason for _, reason in plan.rejected}
    if tools and (not reasons or BUILTIN_UNSUPPORTED in reasons):
        index, kind = tools[0]
        rejected = "; ".join(f"{m}: {r}" for m, r in plan.rejected[:5]) or "none configured"
        return NoCandidates(
            f"tools[{index}].type {kind!r} is a built-in tool of OpenAI's Responses API, run "
            "only by an OpenAI provider (type openai, at api.openai.com or Azure OpenAI), and "
            f"no such provider can serve this request ({rejected}): declare a function tool "
            "instead, or configure an OpenAI provider",
            param=f"tools[{index}].type",
            code="unsupported_tool",
        )
    return NoCandidates(_no_candidates_message(plan), param="model")


def _no_candidates_message(plan: RoutePlan) -> str:
    if not plan.rejected:
        return "No configured model can serve this request: no provider is configured"
    reasons = "; ".join(f"{m}: {r}" for m, r in plan.rejected[:5])
    return f"No configured model can serve this request ({reasons})"
