"""The router: a request and a profile in, a ranked chain of candidates out.

Two stages keep a decision cheap over large catalogs: models are ranked once per catalog
for every (profile, complexity) pair; a request then walks that order, skipping models that
cannot serve it, and re-scores the short list with latency observed in this process.

A model with several deployments (:mod:`orchestra.catalog.deployments`) counts once toward
``max_candidates``: the first time one of its deployments is shortlisted, the group's other
deployments join it, and after re-scoring they sit right after the best-ranked one (load
balancing then orders each group's run, :mod:`orchestra.resilience.balancer`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from orchestra.catalog.deployments import (
    DEFAULT_OPTIONS,
    DeploymentOptions,
    Deployments,
    DeploymentTable,
)
from orchestra.catalog.models import Catalog, ModelInfo
from orchestra.errors import InvalidRequest, NoCandidates, UnknownModel
from orchestra.routing.complexity import classify
from orchestra.routing.fit import (
    BUILTIN_UNSUPPORTED,
    DEFAULT_OUTPUT_RESERVE,
    Needs,
    builtin_tools_of,
    unfit_reason,
)
from orchestra.routing.groups import adjacent
from orchestra.routing.profiles import COMPLEXITIES, PROFILES, Complexity, Profile, get_profile
from orchestra.routing.scorer import Features, features_of, quality_range, speed_score
from orchestra.schemas.chat import ChatRequest
from orchestra.tokens import estimate_prompt_tokens

__all__ = [
    "DEFAULT_OUTPUT_RESERVE",  # the fit check has its own module; callers import from here
    "Candidate",
    "RoutePlan",
    "Router",
    "no_candidates",
    "unfit_reason",
]

MAX_REJECTED_REPORTED = 10


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
    #: scores, choice), as sent in ``x-orchestra-route`` (mappings rendered when read)
    balancing: list[Mapping[str, Any]] = field(default_factory=list)
    #: the client named one deployment (``alpha/m1``): it stays first, balancing orders
    #: only the rest of its group
    pinned: bool = False
    #: the deployments of the catalog this plan was made with (weights, strategies)
    table: DeploymentTable | None = field(default=None, repr=False, compare=False)

    def reject(self, model_id: str, reason: str) -> None:
        if len(self.rejected) < MAX_REJECTED_REPORTED:
            self.rejected.append((model_id, reason))

    def explain(self, chosen: str | None) -> dict[str, Any]:
        """Why ``chosen``: the profile, its score breakdown, the chain and what was rejected
        (the api layer sends it as ``x-orchestra-route``)."""
        pick = next((c for c in self.candidates if c.model.id == chosen), None)
        explained = {
            "profile": self.profile,
            "complexity": self.complexity,
            "chosen": chosen,
            "breakdown": pick.breakdown if pick else None,
            "chain": [c.model.id for c in self.candidates],
            "rejected": [{"model": m, "reason": r} for m, r in self.rejected],
        }
        if self.balancing:
            explained["deployments"] = [dict(decision) for decision in self.balancing]
        return explained


class _Index:
    """Per-catalog precomputation: features, one static order per profile x complexity, the
    deployments' groups."""

    def __init__(self, models: list[ModelInfo], table: DeploymentTable) -> None:
        self.table = table
        low, high = quality_range(models)
        self.features = {m.id: features_of(m, low, high) for m in models}
        self.order: dict[tuple[str, Complexity], list[ModelInfo]] = {}
        for profile in PROFILES.values():
            for complexity in COMPLEXITIES:
                shifted = profile.shifted(complexity)
                ranked = sorted(models, key=lambda m: -self.features[m.id].score(shifted))
                self.order[(profile.name, complexity)] = ranked
        #: (profile, model id) -> its candidate from static features (explicit plans)
        self._static: dict[tuple[str, str], Candidate] = {}

    def candidate(self, model: ModelInfo, profile: Profile) -> Candidate:
        """The model's candidate for an unshifted profile, made once per catalog."""
        key = (profile.name, model.id)
        found = self._static.get(key)
        if found is None:
            breakdown = self.features[model.id].breakdown(profile)
            found = Candidate(model, breakdown["score"], breakdown, self.table.group(model.id))
            self._static[key] = found
        return found


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
        deployments: Deployments | None = None,
    ) -> None:
        self.providers = providers
        self.deployments = deployments or Deployments()
        self.stand_in = stand_in
        self.max_candidates = max_candidates
        self.builtin_tools = frozenset(builtin_tools)
        self._catalog: Catalog | None = None
        self._index: _Index | None = None

    def _index_for(self, catalog: Catalog) -> _Index:
        if catalog is not self._catalog or self._index is None:
            chat = [m for m in catalog if m.provider in self.providers and not m.is_embedding]
            self._index = _Index(chat, self.deployments.table(chat, catalog))
            self._catalog = catalog
        return self._index

    def options(self, model_id: str) -> DeploymentOptions:
        """A deployment's options from orchestra.yaml (its weight, whether it may be
        hedged or continue a stream, its cold first-token time): defaults for a deployment
        no file names, and before the first plan."""
        index = self._index
        return index.table.options(model_id) if index is not None else DEFAULT_OPTIONS

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
        index = self._index_for(catalog)
        plan = RoutePlan(profile.name, complexity, tokens, [], table=index.table)
        if refused is not None:
            plan.reject(refused, "not_served_here:stand_in")
        order = index.order[(profile.name, complexity)]
        needs = Needs(request, tokens, self.builtin_tools)
        shortlist = self._shortlist(plan, order, needs, self.max_candidates + extra)
        plan.candidates = self._rescore(shortlist, index, profile.shifted(complexity), observed_ms)
        if index.table.grouped:
            plan.candidates = adjacent(plan.candidates)
        if not plan.candidates:
            raise no_candidates(plan, request)
        return plan

    def _shortlist(
        self, plan: RoutePlan, order: list[ModelInfo], needs: Needs, wanted: int
    ) -> list[ModelInfo]:
        """The first ``wanted`` models of ``order`` that can serve the request, each with
        its group's other deployments that can."""
        table = plan.table
        grouped = table is not None and table.grouped
        taken: set[str] = set()
        shortlist: list[ModelInfo] = []
        models = 0
        for model in order:
            if grouped and model.id in taken:
                continue
            reason = needs.unfit(model)
            if grouped:
                taken.add(model.id)
            if reason:
                plan.reject(model.id, reason)
                continue
            shortlist.append(model)
            models += 1
            if grouped and table is not None and (group := table.group(model.id)):
                _join(plan, shortlist, taken, table.members(group), needs)
            if models >= wanted:
                break
        return shortlist

    def _rescore(
        self,
        shortlist: list[ModelInfo],
        index: _Index,
        profile: Profile,
        observed_ms: Callable[[str], float | None] | None,
    ) -> list[Candidate]:
        scored = []
        group = index.table.group
        for model in shortlist:
            features = index.features[model.id]
            seen = observed_ms(model.id) if observed_ms else None
            if seen is not None:
                features = features.with_speed(speed_score(seen))
            scored.append(self._candidate(model, features, profile, group(model.id)))
        scored.sort(key=lambda c: -c.score)
        return scored

    @staticmethod
    def _candidate(
        model: ModelInfo, features: Features, profile: Profile, group: str = ""
    ) -> Candidate:
        breakdown = features.breakdown(profile)
        return Candidate(model, breakdown["score"], breakdown, group)

    def _explicit_plan(
        self,
        request: ChatRequest,
        catalog: Catalog,
        profile: Profile,
        model_id: str,
        tokens: int,
    ) -> RoutePlan:
        """A named model: an exact catalog id (``alpha/m1``) pins that deployment first,
        then its group's others; any other name (``m1``, ``gpt-4o``) means the whole group,
        ordered by load balancing. Each fallback brings its group the same way."""
        index = self._index_for(catalog)
        plan = RoutePlan(profile.name, None, tokens, [], table=index.table)
        chain = self._named(catalog, index.table, model_id, "model")
        first = chain[0]
        for i, name in enumerate(request.fallbacks or []):
            try:
                chain.extend(self._named(catalog, index.table, name, f"fallbacks[{i}]"))
            except UnknownModel as exc:
                raise UnknownModel(exc.message, param=f"fallbacks[{i}]") from exc
        needs = Needs(request, tokens, self.builtin_tools)
        routable = index.features  # the configured providers' chat models
        for model in dict.fromkeys(chain) if request.fallbacks else chain:
            reason = "provider_not_configured" if model.id not in routable else None
            reason = reason or needs.unfit(model)
            if reason:
                plan.reject(model.id, reason)
                continue
            plan.candidates.append(index.candidate(model, profile))
        if not plan.candidates:
            raise no_candidates(plan, request)
        plan.pinned = model_id in catalog and plan.candidates[0].model is first
        return plan

    def _named(
        self, catalog: Catalog, table: DeploymentTable, name: str, param: str
    ) -> list[ModelInfo]:
        """The deployments a client's model name means: the named one first, then the
        rest of its group."""
        group = "" if name in catalog else table.named(name)
        members = table.members(group) if group else ()
        if members:
            return list(members)
        model = _chat_model(catalog.get(name, self.providers), param)
        return [model, *(m for m in table.members(table.group(model.id)) if m is not model)]


def _join(
    plan: RoutePlan,
    shortlist: list[ModelInfo],
    taken: set[str],
    members: tuple[ModelInfo, ...],
    needs: Needs,
) -> None:
    """A shortlisted model's other deployments, each checked like it (rejects reported)."""
    for member in members:
        if member.id in taken:
            continue
        taken.add(member.id)
        reason = needs.unfit(member)
        if reason:
            plan.reject(member.id, reason)
        else:
            shortlist.append(member)


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


def no_candidates(plan: RoutePlan, request: ChatRequest) -> NoCandidates:
    """The 400 for a plan left empty; a request with built-in tools that no candidate runs
    names the first such tool (``tools[i].type``) and who runs them."""
    tools = builtin_tools_of(request)
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
