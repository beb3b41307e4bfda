"""What the routes need, hung on ``app.state`` by :func:`orchestra.api.app.create_app`."""

from __future__ import annotations

from dataclasses import dataclass, field

from fastapi import Request

from orchestra.api.auth import ApiKeyAuth
from orchestra.config import Settings
from orchestra.debate.service import DebateService
from orchestra.debate.steps import DebateSteps
from orchestra.gateway import Gateway
from orchestra.multi.service import MultiGenerate
from orchestra.redaction import Redactor
from orchestra.transport.http import HttpClients


@dataclass
class Services:
    settings: Settings
    gateway: Gateway
    auth: ApiKeyAuth
    redactor: Redactor
    multi: MultiGenerate
    debates: DebateService
    debate_steps: DebateSteps
    http: HttpClients = field(default_factory=HttpClients)

    async def aclose(self) -> None:
        """Stop local debate runs, release upstream connections (shutdown, test teardown)."""
        closer = getattr(self.debates.starter, "aclose", None)
        if closer is not None:
            await closer()
        await self.http.aclose()


def services_of(request: Request) -> Services:
    services: Services = request.app.state.services
    return services
