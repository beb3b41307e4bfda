"""``POST /v1/multi-generate``: one request fanned out to several models, answers fused."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from pydantic import ValidationError

from orchestra.api.body import json_object, read_body
from orchestra.api.deps import services_of
from orchestra.api.errors import validation_error
from orchestra.schemas import contract
from orchestra.schemas.multi import MultiGenerateRequest, MultiGenerateResponse

router = APIRouter()

_SCHEMA = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": contract.multi_generate_request()}},
    }
}


@router.post(
    "/v1/multi-generate",
    openapi_extra=_SCHEMA,
    response_model=MultiGenerateResponse,
    responses={502: {"description": "every model failed (OpenAI error shape)"}},
)
async def multi_generate(request: Request) -> Response:
    services = services_of(request)
    await services.auth.check(request.headers.get("authorization"))
    body = json_object(await read_body(request, services.settings.max_body_bytes))
    try:
        parsed = MultiGenerateRequest.from_body(body)
    except ValidationError as exc:
        raise validation_error(list(exc.errors())) from exc
    result = await services.multi.run(parsed)
    headers = {
        "x-orchestra-strategy": result.fusion.applied,
        "x-orchestra-models": ",".join(r.model for r in result.results if r.status != "skipped"),
        "x-orchestra-cost-usd": f"{result.cost_usd:.8f}",
    }
    if result.winner:
        headers["x-orchestra-winner"] = result.winner
    return Response(
        result.model_dump_json(exclude_none=True), media_type="application/json", headers=headers
    )
