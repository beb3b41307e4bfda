"""Which embedding models may answer a request, in order: the chain :class:`~orchestra.
embed.service.Embed` runs.

Vectors of different models live in different spaces (a cosine between them means
nothing), so the chain is the requested model alone, plus the ``fallbacks`` the caller
listed as equivalent. ``auto`` is the cheapest configured embedding model (that can honour
``dimensions``, when set). A chat model is refused (400 naming ``model`` or the fallback);
so is ``dimensions`` on a model that cannot shorten its vectors.
"""

from __future__ import annotations

from collections.abc import Callable, Collection

from orchestra.catalog.models import Catalog, ModelInfo
from orchestra.errors import InvalidRequest, NoCandidates, UnknownModel
from orchestra.routing.router import Candidate, RoutePlan
from orchestra.schemas.embeddings import EmbeddingRequest

PROFILE = "embeddings"
AUTO = "auto"


def embedding_plan(
    request: EmbeddingRequest,
    catalog: Catalog,
    providers: Collection[str],
    can_embed: Callable[[str], bool],
) -> RoutePlan:
    """The chain for ``request``; ``can_embed(provider)``: its wire protocol has embeddings."""
    plan = RoutePlan(PROFILE, None, 0, [])
    if request.model.strip() == AUTO:
        chain = [_cheapest(request, catalog, providers, can_embed)]
    else:
        chain = [_named(request.model, catalog, providers, "model")]
    for i, name in enumerate(request.fallbacks or []):
        chain.append(_named(name, catalog, providers, f"fallbacks[{i}]"))
    for model in dict.fromkeys(chain):
        _check_dimensions(model, request.dimensions)
        if model.provider not in providers:
            plan.reject(model.id, "provider_not_configured")
        elif not can_embed(model.provider):
            plan.reject(model.id, "no_embeddings_endpoint")
        else:
            plan.candidates.append(Candidate(model, 0.0, {}))
    if not plan.candidates:
        reasons = "; ".join(f"{m}: {r}" for m, r in plan.rejected)
        raise NoCandidates(f"No configured model can serve this request ({reasons})", param="model")
    return plan


def _named(name: str, catalog: Catalog, providers: Collection[str], param: str) -> ModelInfo:
    try:
        model = catalog.get(name, providers)
    except UnknownModel as exc:
        raise UnknownModel(exc.message, param=param) from exc
    if not model.is_embedding:
        raise InvalidRequest(
            f"'{model.id}' is a chat model, not an embedding model "
            "(use POST /v1/chat/completions, or an embedding model such as 'auto')",
            param=param,
            code="model_not_supported",
        )
    return model


def _cheapest(
    request: EmbeddingRequest,
    catalog: Catalog,
    providers: Collection[str],
    can_embed: Callable[[str], bool],
) -> ModelInfo:
    usable = [
        m
        for m in catalog
        if m.is_embedding
        and m.provider in providers
        and can_embed(m.provider)
        and _dimensions_problem(m, request.dimensions) is None
    ]
    if not usable:
        if request.dimensions is not None:
            raise NoCandidates(
                f"No configured embedding model makes vectors of {request.dimensions} dimensions",
                param="dimensions",
            )
        raise NoCandidates("No embedding model is configured", param="model")
    return min(usable, key=lambda m: (m.input_price, m.id))


def _dimensions_problem(model: ModelInfo, dimensions: int | None) -> str | None:
    if dimensions is None:
        return None
    if "dimensions" not in model.capabilities:
        return f"'{model.id}' does not support 'dimensions' (its vectors have a fixed size)"
    if model.dimensions is not None and dimensions > model.dimensions:
        return f"'{model.id}' makes vectors of at most {model.dimensions} dimensions"
    return None


def _check_dimensions(model: ModelInfo, dimensions: int | None) -> None:
    problem = _dimensions_problem(model, dimensions)
    if problem is not None:
        raise InvalidRequest(problem, param="dimensions", code="unsupported_parameter")
