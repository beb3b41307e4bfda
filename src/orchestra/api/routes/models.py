"""``GET /v1/models`` (OpenAI list shape) and ``GET /v1/models/rankings?profile=``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query

from orchestra.api.deps import Authorized, generate_of, only_query
from orchestra.catalog.models import ModelInfo
from orchestra.routing.profiles import PROFILES

router = APIRouter()

CREATED = 1_735_689_600  # 2025-01-01: the catalog has no per-model creation dates


def _model_entry(model: ModelInfo) -> dict[str, Any]:
    entry = {
        "id": model.id,
        "object": "model",
        "created": CREATED,
        "owned_by": model.provider,
        "context_window": model.context_window,
        "max_output_tokens": model.max_output_tokens,
        "pricing": {"input_per_token": model.input_price, "output_per_token": model.output_price},
        "quality": model.quality,
        "capabilities": sorted(model.capabilities),
    }
    if model.provenance:  # where each synced field came from, and when
        entry["provenance"] = {k: v.model_dump() for k, v in sorted(model.provenance.items())}
    return entry


@router.get("/v1/models")
async def list_models(services: Authorized) -> dict[str, Any]:
    catalog = await services.catalog.current()
    providers = services.registry.names()
    data = [_model_entry(m) for m in catalog if m.provider in providers]
    data += [
        {"id": f"auto:{name}", "object": "model", "created": CREATED, "owned_by": "orchestra"}
        for name in PROFILES
    ]
    return {"object": "list", "data": data}


@router.get("/v1/models/rankings", dependencies=[Depends(only_query("profile"))])
async def rankings(
    services: Authorized,
    # documented as the enum; get_profile refuses other names with the list of valid ones
    profile: str = Query(
        default="balanced", max_length=40, json_schema_extra={"enum": [*PROFILES]}
    ),
) -> dict[str, Any]:
    catalog = await services.catalog.current()
    ranked = generate_of(services).router.rankings(catalog, profile)
    return {
        "object": "list",
        "profile": profile,
        "data": [
            {"rank": i + 1, "id": c.model.id, "score": c.score, "breakdown": c.breakdown}
            for i, c in enumerate(ranked)
        ],
    }
