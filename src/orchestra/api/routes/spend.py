"""``GET /v1/spend``: settled spend summed by key, team, model or day (docs/governance.md).

An admin sees every key's spend (``?key=`` narrows it to one); any other key sees its own
and only its own, whatever it asks for.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from orchestra.api.deps import NotServed, only_query
from orchestra.api.routes.admin import Caller, caller_of
from orchestra.governance.spend import GROUPS, SpendReport

router = APIRouter()


def spend_of(caller: Caller) -> SpendReport:
    found: SpendReport | None = getattr(caller.services, "spend", None)
    if found is None:
        raise NotServed("spend reports are not served by this function")
    return found


DAY = {"format": "date"}


@router.get("/v1/spend", dependencies=[Depends(only_query("group_by", "from", "to", "key"))])
async def spend(
    caller: Annotated[Caller, Depends(caller_of)],
    group_by: Annotated[str | None, Query(json_schema_extra={"enum": list(GROUPS)})] = None,
    day_from: Annotated[
        str | None, Query(alias="from", json_schema_extra=DAY, description="default: the 1st")
    ] = None,
    day_to: Annotated[
        str | None, Query(alias="to", json_schema_extra=DAY, description="default: today (UTC)")
    ] = None,
    key: Annotated[str | None, Query(description="one key's spend (admins)")] = None,
) -> dict[str, Any]:
    report = await spend_of(caller).report(
        caller=caller.principal.key_id,
        admin=caller.admin,
        by=group_by,
        day_from=day_from,
        day_to=day_to,
        key=key,
    )
    return report.to_json()
