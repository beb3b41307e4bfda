"""Chains: ``GET /v1/chains`` (the stored chains, newest first), ``PUT``/``GET
/v1/chains/{name}`` (versioned definitions, JSON or YAML),
``POST /v1/chains/{name}/runs`` and ``POST /v1/chains/runs`` (inline; 202, the run goes on
in the background or on Step Functions), ``GET /v1/chains/runs/{id}``."""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from pydantic import BaseModel, ValidationError

from orchestra.api.body import json_object, read_body
from orchestra.api.deps import Authorized, NotServed, authorized, only_query, page_size
from orchestra.api.errors import validation_error
from orchestra.api.routes.debates import _idempotency_key
from orchestra.chain.document import CHAIN_NAME, load_chain, parse_chain
from orchestra.chain.service import ChainService
from orchestra.chain.store import Run
from orchestra.errors import InvalidRequest
from orchestra.schemas.chain import (
    ChainDefinition,
    ChainList,
    ChainRunRequest,
    ChainRunStarted,
    ChainRunView,
    ChainSaved,
    InlineChainRunRequest,
    wire,
)

router = APIRouter()
RUN_ID = re.compile(r"^chrun_[0-9a-f]{26}$")
_NAME = re.compile(CHAIN_NAME)
YAML_TYPES = ("application/yaml", "text/yaml", "application/x-yaml")
_YAML_OR_JSON = {
    "requestBody": {
        "required": True,
        "content": {t: {"schema": {"type": "object"}} for t in ("application/json", *YAML_TYPES)},
    }
}


def chains_of(services: Any) -> ChainService:
    if getattr(services, "chains", None) is None:
        raise NotServed("chains are not served by this function")
    chains: ChainService = services.chains
    return chains


def _name(name: str) -> str:
    if not _NAME.match(name):
        raise InvalidRequest(
            "A chain name is 1 to 64 letters, digits, '_', '.' or '-', starting with a letter or digit",
            param="name",
        )
    if name == "runs":  # ``/v1/chains/runs`` is where inline chains run
        raise InvalidRequest("'runs' is reserved: name the chain otherwise", param="name")
    return name


def _json(model: BaseModel, status: int = 200, **headers: str) -> Response:
    return Response(
        wire(model),
        status_code=status,
        media_type="application/json",
        headers=headers,
    )


def _parsed(model: type[BaseModel], body: bytes) -> Any:
    try:
        return model.model_validate(json_object(body))
    except ValidationError as exc:
        raise validation_error(list(exc.errors())) from exc


@router.get(
    "/v1/chains", response_model=ChainList, dependencies=[Depends(only_query("after", "limit"))]
)
async def list_chains(
    services: Authorized,
    limit: Annotated[int, page_size(100)],
    after: str | None = None,
) -> Response:
    return _json(await chains_of(services).list(after, limit))


@router.put("/v1/chains/{name}", response_model=ChainSaved, openapi_extra=_YAML_OR_JSON)
async def put_chain(request: Request, name: str) -> Response:
    services = await authorized(request)
    body = await read_body(request, services.settings.max_body_bytes)
    kind = (request.headers.get("content-type") or "application/json").split(";")[0].strip()
    if kind not in ("application/json", *YAML_TYPES):
        raise InvalidRequest(
            f"Content-Type {kind} is not a chain: send application/json or application/yaml",
            param="Content-Type",
        )
    chain = parse_chain(load_chain(body, kind).document(), name=_name(name))
    return _json(await chains_of(services).put(name, chain))


@router.get("/v1/chains/runs/{run_id}", response_model=ChainRunView)
async def get_chain_run(
    services: Authorized,
    run_id: str = Path(json_schema_extra={"pattern": RUN_ID.pattern}),
) -> Response:
    if not RUN_ID.match(run_id):
        raise InvalidRequest("A chain run id looks like chrun_ and 26 hex digits", param="run_id")
    return _json(await chains_of(services).view(run_id))


@router.get("/v1/chains/{name}", response_model=ChainDefinition)
async def get_chain(
    services: Authorized, name: str, version: Annotated[int | None, Query(ge=1)] = None
) -> Response:
    return _json(await chains_of(services).get(_name(name), version))


async def _started(chains: ChainService, run: Run) -> Response:
    started = await chains.started(run)
    return _json(started, 202, location=started.status_url)


@router.post("/v1/chains/runs", status_code=202, response_model=ChainRunStarted)
async def start_inline_run(
    request: Request, key: Annotated[str | None, Depends(_idempotency_key)]
) -> Response:
    services = await authorized(request)
    body = _parsed(
        InlineChainRunRequest, await read_body(request, services.settings.max_body_bytes)
    )
    chains = chains_of(services)
    return await _started(chains, await chains.start_inline(body, key))


@router.post("/v1/chains/{name}/runs", status_code=202, response_model=ChainRunStarted)
async def start_run(
    request: Request, name: str, key: Annotated[str | None, Depends(_idempotency_key)]
) -> Response:
    services = await authorized(request)
    body = _parsed(ChainRunRequest, await read_body(request, services.settings.max_body_bytes))
    chains = chains_of(services)
    return await _started(chains, await chains.start_named(_name(name), body, key))
