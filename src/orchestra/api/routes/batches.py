"""OpenAI's Batch API: ``POST /v1/batches``, ``GET /v1/batches/{id}``,
``POST /v1/batches/{id}/cancel``, ``GET /v1/batches?after=&limit=``. A batch runs in the
background (Step Functions deployed, the local runner otherwise): create answers at once
with status ``validating`` or ``in_progress``; poll with retrieve."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from fastapi import APIRouter, Depends, Response

from orchestra.api.body import validated
from orchestra.api.deps import (
    Authorized,
    Checked,
    NotServed,
    Served,
    checked_body,
    only_query,
    page_size,
)
from orchestra.schemas.batch import Batch, BatchList, CreateBatch

if TYPE_CHECKING:
    from orchestra.batch.service import BatchService

router = APIRouter()
_SCHEMA = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": CreateBatch.model_json_schema()}},
    }
}


def batches_of(services: Served) -> BatchService:
    found: BatchService | None = getattr(services, "batches", None)
    if found is None:
        raise NotServed("batches are not served by this function")
    return found


def parse_create_batch(body: bytes) -> CreateBatch:
    return validated(CreateBatch, body)


def _json(model: Batch | BatchList) -> Response:
    return Response(model.model_dump_json(), media_type="application/json")


@router.post("/v1/batches", openapi_extra=_SCHEMA, response_model=Batch)
async def create_batch(
    call: Annotated[Checked[CreateBatch], checked_body(parse_create_batch)],
) -> Response:
    return _json(await batches_of(call.services).create(call.body))


@router.get(
    "/v1/batches",
    response_model=BatchList,
    dependencies=[Depends(only_query("after", "limit"))],
)
async def list_batches(
    services: Authorized,
    limit: Annotated[int, page_size(100)],
    after: str | None = None,
) -> Response:
    return _json(await batches_of(services).list(after, limit))


@router.get("/v1/batches/{batch_id}", response_model=Batch)
async def retrieve_batch(batch_id: str, services: Authorized) -> Response:
    return _json(await batches_of(services).retrieve(batch_id))


@router.post("/v1/batches/{batch_id}/cancel", response_model=Batch)
async def cancel_batch(batch_id: str, services: Authorized) -> Response:
    return _json(await batches_of(services).cancel(batch_id))
