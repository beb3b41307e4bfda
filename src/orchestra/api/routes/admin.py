"""The admin API: ``/v1/admin/keys`` and ``/v1/admin/teams`` (docs/governance.md).

Only an admin may call it: a key whose principal says so (``ORCHESTRA_ADMIN_KEYS`` locally)
or whose policy says ``admin: true`` (deployed; bootstrap the first with ``orchestra keys
create ops --admin``). Any other key gets a 403 in OpenAI's shape, no key a 401. Lists are
OpenAI list objects; a created key is in the 201's body once and never again.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from orchestra.api.body import json_object, read_body
from orchestra.api.deps import NotServed, Served, authorized, only_query
from orchestra.caller import Principal
from orchestra.errors import Forbidden
from orchestra.governance.admin import KeyAdmin, not_found
from orchestra.governance.records import KeyPolicy, Limits

if TYPE_CHECKING:
    from orchestra.governance.records import TeamPolicy

router = APIRouter()

Responses = dict[int | str, dict[str, Any]]
ERROR_SCHEMA = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}}
#: statuses the admin routes add to every /v1 route's documented errors
FORBIDDEN: Responses = {403: {"description": "The key is not an admin's", "content": ERROR_SCHEMA}}
TAKEN: Responses = {409: {"description": "That key id is taken", "content": ERROR_SCHEMA}}


def _body_schema(model: type[BaseModel], *, drop: set[str], required: list[str]) -> dict[str, Any]:
    """``model``'s JSON Schema as a request body: server-set fields dropped, USD amounts as
    JSON numbers (pydantic also allows strings for ``Decimal``), ``null`` where it clears."""
    schema = model.model_json_schema()
    props = schema["properties"]
    for name in drop:
        props.pop(name, None)
    for name in [n for n in props if n.endswith("_usd")]:
        props[name] = {"anyOf": [{"type": "number", "minimum": 0}, {"type": "null"}]}
    schema["required"] = required
    schema["title"] = f"{model.__name__}{'Create' if required else 'Update'}"
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


_STAMPS = {"created_at", "updated_at"}


def _key_admin(services: Served) -> KeyAdmin | None:
    found: KeyAdmin | None = getattr(services, "admin", None)
    return found


def key_admin_of(services: Served) -> KeyAdmin:
    found = _key_admin(services)
    if found is None:
        raise NotServed("the admin API is not served by this function")
    return found


@dataclass(frozen=True)
class Caller:
    """A request past the key check: its services and its principal."""

    services: Served
    principal: Principal
    admin: bool


async def caller_of(request: Request) -> Caller:
    """Key checked (401), the principal, and whether it is an admin: its principal says so
    or its policy does (one policy read; the admin routes are not the hot path)."""
    services = await authorized(request)
    principal: Principal = request.state.principal  # set by the key check
    admin = principal.admin
    keys = _key_admin(services)
    if not admin and keys is not None:
        admin = await keys.is_admin(principal.key_id)
    return Caller(services, principal, admin)


async def admin_required(request: Request) -> KeyAdmin:
    """The admin routes' one dependency: an admin's request, or a 403 (no key: 401)."""
    caller = await caller_of(request)
    if not caller.admin:
        raise Forbidden("This route needs an admin key")
    return key_admin_of(caller.services)


Admin = Annotated[KeyAdmin, Depends(admin_required)]


def _plain(value: Any) -> Any:
    """USD amounts as JSON numbers (pydantic would write ``Decimal`` as a string)."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def key_json(policy: KeyPolicy) -> dict[str, Any]:
    return {"object": "key", **_plain(policy.model_dump())}


def team_json(team: TeamPolicy) -> dict[str, Any]:
    return {"object": "team", **_plain(team.model_dump())}


def listed(items: list[dict[str, Any]]) -> dict[str, Any]:
    return {"object": "list", "data": items}


async def _body(request: Request) -> dict[str, Any]:
    services: Served = request.app.state.services
    return json_object(await read_body(request, services.settings.max_body_bytes))


@router.post(
    "/v1/admin/keys",
    status_code=201,
    responses={**FORBIDDEN, **TAKEN},
    openapi_extra=_body_schema(KeyPolicy, drop=_STAMPS, required=["key_id"]),
)
async def create_key(request: Request, admin: Admin) -> JSONResponse:
    policy, key = await admin.create_key(await _body(request))
    return JSONResponse({"object": "key", "policy": key_json(policy), "key": key}, 201)


@router.get("/v1/admin/keys", dependencies=[Depends(only_query("team"))], responses=FORBIDDEN)
async def list_keys(admin: Admin, team: str | None = None) -> dict[str, Any]:
    return listed([key_json(p) for p in await admin.list_keys(team)])


@router.get("/v1/admin/keys/{key_id}", responses=FORBIDDEN)
async def get_key(key_id: str, admin: Admin) -> dict[str, Any]:
    return key_json(await admin.get_key(key_id))


@router.patch(
    "/v1/admin/keys/{key_id}",
    responses=FORBIDDEN,
    openapi_extra=_body_schema(KeyPolicy, drop={*_STAMPS, "key_id"}, required=[]),
)
async def update_key(key_id: str, request: Request, admin: Admin) -> dict[str, Any]:
    return key_json(await admin.update_key(key_id, await _body(request)))


@router.delete("/v1/admin/keys/{key_id}", responses=FORBIDDEN)
async def revoke_key(key_id: str, admin: Admin) -> dict[str, Any]:
    if not await admin.revoke_key(key_id):
        raise not_found("key", key_id)
    return {"object": "key.deleted", "id": key_id, "deleted": True}


@router.get("/v1/admin/teams", responses=FORBIDDEN)
async def list_teams(admin: Admin) -> dict[str, Any]:
    return listed([team_json(t) for t in await admin.list_teams()])


@router.put(
    "/v1/admin/teams/{team_id}",
    responses={**FORBIDDEN, 201: {"description": "Created"}},
    openapi_extra=_body_schema(Limits, drop=set(), required=[]),
)
async def put_team(team_id: str, request: Request, admin: Admin) -> JSONResponse:
    team, created = await admin.put_team(team_id, await _body(request))
    return JSONResponse(team_json(team), 201 if created else 200)


@router.get("/v1/admin/teams/{team_id}", responses=FORBIDDEN)
async def get_team(team_id: str, admin: Admin) -> dict[str, Any]:
    return team_json(await admin.get_team(team_id))
