"""``POST /v1/debates`` (202, runs in the background) and ``GET /v1/debates/{id}``."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request, Response
from pydantic import ValidationError

from orchestra.api import contract
from orchestra.api.body import json_object
from orchestra.api.deps import Authorized, Checked, checked_body, debates_of
from orchestra.api.errors import validation_error
from orchestra.errors import InvalidRequest
from orchestra.schemas.debate import DebateRequest, DebateStarted, DebateView

router = APIRouter()

_SCHEMA = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": contract.debate_request()}},
    }
}
IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")
DEBATE_ID = re.compile(r"^dbt_[0-9a-f]{26}$")


async def _idempotency_key(request: Request, _: Authorized) -> str | None:
    key = request.headers.get("idempotency-key")
    if key is not None and not IDEMPOTENCY_KEY.match(key):
        raise InvalidRequest(
            "Idempotency-Key must be 1 to 255 printable ASCII characters", param="Idempotency-Key"
        )
    return key


def parse_debate_request(body: bytes) -> DebateRequest:
    try:
        return DebateRequest.model_validate(json_object(body))
    except ValidationError as exc:
        raise validation_error(list(exc.errors())) from exc


@router.post("/v1/debates", status_code=202, openapi_extra=_SCHEMA)
async def start_debate(
    key: Annotated[str | None, Depends(_idempotency_key)],
    call: Annotated[Checked[DebateRequest], checked_body(parse_debate_request)],
) -> Response:
    debate = await debates_of(call.services).start(call.body, key)
    url = f"/v1/debates/{debate.id}"
    payload = {
        "id": debate.id,
        "object": "debate",
        "status": debate.status,
        "status_url": url,
        "participants": debate.participants,
        "judge": debate.judge,
        "execution_arn": debate.execution_arn,
    }
    return Response(
        DebateStarted.model_validate(payload).model_dump_json(exclude_none=True),
        status_code=202,
        media_type="application/json",
        headers={"location": url},
    )


@router.get("/v1/debates/{debate_id}", response_model=DebateView)
async def get_debate(
    services: Authorized,
    # documented, and checked below for a clearer message than the generic one
    debate_id: str = Path(json_schema_extra={"pattern": DEBATE_ID.pattern}),
) -> Response:
    if not DEBATE_ID.match(debate_id):
        raise InvalidRequest("A debate id looks like dbt_ and 26 hex digits", param="debate_id")
    view = await debates_of(services).view(debate_id)
    return Response(view.model_dump_json(exclude_none=True), media_type="application/json")
