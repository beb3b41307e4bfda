"""``GET /health``: liveness (no secrets, no I/O).

Deployed, the route is public (load balancers and uptime checks carry no key), so it says
only that the function is up; locally it also says what this instance runs on.
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter

from orchestra.api.deps import Services

router = APIRouter()


@router.get("/health")
async def health(services: Services) -> dict[str, Any]:
    registry = services.registry
    if services.settings.mode == "aws":
        return {"status": "ok"}
    return {
        "status": "ok",
        "mode": services.settings.mode,
        "providers": sorted(registry.names()),
        "simulator": registry.simulated,
        "event_loop": type(asyncio.get_running_loop()).__module__.split(".")[0],
        "models": sum(1 for m in services.catalog.cached if m.provider in registry.names()),
    }
