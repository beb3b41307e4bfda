"""Which models a fan-out calls: the ones named, or ``count`` diverse picks for a profile.

Named models are resolved by id or alias (an unknown one is a 404 naming its position);
one that cannot be called now (provider not configured, prompt too long for it, breaker
open) is reported as skipped rather than failing the request. Picks for a profile walk the
router's ranked chain and take one model per maker first, so the answers are independent
evidence (see :mod:`orchestra.catalog.makers`), then fill up in rank order.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from orchestra.catalog.makers import maker_of
from orchestra.catalog.models import Catalog, ModelInfo
from orchestra.errors import InvalidRequest, NoCandidates, UnknownModel
from orchestra.resilience.breaker import CircuitBreaker
from orchestra.routing.profiles import PROFILES
from orchestra.routing.router import Router, unfit_reason
from orchestra.schemas.chat import ChatRequest
from orchestra.schemas.multi import MultiOptions
from orchestra.tokens import estimate_prompt_tokens

#: how many of the best models are considered for a judge or synthesiser
AUXILIARY_POOL = 8


@dataclass
class Selection:
    models: list[ModelInfo]
    #: named models that will not be called, and why
    skipped: list[tuple[ModelInfo, str]] = field(default_factory=list)
    profile: str | None = None
    note: str | None = None


class Selector:
    def __init__(
        self,
        router: Router,
        breaker: CircuitBreaker,
        *,
        max_models: int = 8,
        default_count: int = 3,
        default_profile: str = "balanced",
    ) -> None:
        self.router = router
        self.breaker = breaker
        self.max_models = max_models
        self.default_count = default_count
        self.default_profile = default_profile

    async def select(
        self,
        options: MultiOptions,
        chat: ChatRequest,
        catalog: Catalog,
        also: Sequence[str] = (),
        *,
        param: str | None = None,
    ) -> Selection:
        """The models to call; ``also`` are breakers to read in the same round trip.

        ``param`` is the request field errors name when the models were not asked for as
        ``models``/``count`` (a debate's ``participants``: ``participants[1]``)."""
        if options.models is not None:
            field = param or "models"
            if len(options.models) > self.max_models:
                raise InvalidRequest(f"at most {self.max_models} models per request", param=field)
            return await self._named(options.models, chat, catalog, also, field)
        count = options.count or self.default_count
        if count > self.max_models:
            raise InvalidRequest(
                f"at most {self.max_models} models per request", param=param or "count"
            )
        if options.quorum is not None and options.quorum > count:
            raise InvalidRequest(
                f"quorum {options.quorum} is more than the {count} models asked for",
                param="quorum",
            )
        return await self._picked(count, self._profile(options, chat), chat, catalog, also)

    def _profile(self, options: MultiOptions, chat: ChatRequest) -> str:
        if options.profile is not None:
            return options.profile
        model = chat.model.strip()
        if model == "auto":
            return chat.profile or self.default_profile
        if model.startswith("auto:") or model in PROFILES:
            return model.removeprefix("auto:")
        raise InvalidRequest(
            "multi-generate calls several models: name them in 'models' or ask for 'count' "
            "(with an optional 'profile'); 'model' may only be 'auto' or 'auto:<profile>'",
            param="model",
        )

    async def _named(
        self,
        ids: list[str],
        chat: ChatRequest,
        catalog: Catalog,
        also: Sequence[str],
        field: str = "models",
    ) -> Selection:
        models: list[ModelInfo] = []
        for i, model_id in enumerate(ids):
            try:
                model = catalog.get(model_id)
            except UnknownModel as exc:
                raise UnknownModel(exc.message, param=f"{field}[{i}]") from exc
            if model in models:
                raise InvalidRequest(f"'{model_id}' is listed twice", param=f"{field}[{i}]")
            models.append(model)
        await self.breaker.prefetch([*(m.id for m in models), *also])
        selection = Selection([])
        tokens = estimate_prompt_tokens(chat)
        for model in models:
            reason = self._unusable(model, chat, tokens)
            if reason is None:
                selection.models.append(model)
            else:
                selection.skipped.append((model, reason))
        if not selection.models:
            reasons = "; ".join(f"{m.id}: {r}" for m, r in selection.skipped)
            unavailable = all(r == "breaker_open" for _, r in selection.skipped)
            raise NoCandidates(
                f"None of the named models can serve this request ({reasons})",
                status=503 if unavailable else 400,
                param=None if unavailable else field,
            )
        return selection

    def _unusable(self, model: ModelInfo, chat: ChatRequest, tokens: int) -> str | None:
        if model.provider not in self.router.providers:
            return "provider_not_configured"
        if not self.breaker.view(model.id).available:
            return "breaker_open"
        return unfit_reason(model, chat, tokens)

    async def _picked(
        self, count: int, profile: str, chat: ChatRequest, catalog: Catalog, also: Sequence[str]
    ) -> Selection:
        routed = chat.model_copy(update={"model": f"auto:{profile}", "profile": None})
        plan = self.router.plan(routed, catalog, extra=max(count * 3, 8))
        await self.breaker.prefetch([*(c.model.id for c in plan.candidates), *also])
        ranked = [c.model for c in plan.candidates if self.breaker.view(c.model.id).available]
        picks = diverse(ranked, count)
        if not picks:
            raise NoCandidates(
                "Every model that could serve this request is temporarily unavailable "
                "(circuit open)",
                status=503,
            )
        note = None
        if len(picks) < count:
            note = f"asked for {count} models; only {len(picks)} can serve this request now"
        return Selection(picks, profile=plan.profile, note=note)

    def auxiliary_pool(self, catalog: Catalog, request: ChatRequest) -> list[ModelInfo]:
        """Judge or synthesiser candidates, best quality first (no I/O: their breakers are
        read with the fan-out's, in one round trip)."""
        tokens = estimate_prompt_tokens(request)
        pool = [
            m
            for m in catalog
            if m.provider in self.router.providers and unfit_reason(m, request, tokens) is None
        ]
        pool.sort(key=lambda m: -m.quality)
        return pool[: AUXILIARY_POOL + self.max_models]

    def auxiliary(self, pool: Sequence[ModelInfo], exclude: Iterable[str] = ()) -> ModelInfo | None:
        """The best callable model of the pool that is not excluded, or None."""
        excluded = set(exclude)
        usable = (m for m in pool if m.id not in excluded)
        return next((m for m in usable if self.breaker.view(m.id).available), None)

    def named_auxiliary(self, catalog: Catalog, model_id: str, param: str) -> ModelInfo:
        try:
            model = catalog.get(model_id)
        except UnknownModel as exc:
            raise UnknownModel(exc.message, param=param) from exc
        if model.provider not in self.router.providers:
            raise InvalidRequest(
                f"'{model.id}' cannot be used: its provider is not configured", param=param
            )
        return model


def diverse(ranked: list[ModelInfo], count: int) -> list[ModelInfo]:
    """``count`` models in rank order, one per maker first, then the best of the rest."""
    picks: list[ModelInfo] = []
    makers: set[str] = set()
    for model in ranked:
        maker = maker_of(model.id)
        if maker not in makers:
            picks.append(model)
            makers.add(maker)
        if len(picks) == count:
            break
    for model in ranked:
        if len(picks) >= count:
            break
        if model not in picks:
            picks.append(model)
    return sorted(picks, key=ranked.index)
