"""What the routes need, read from ``app.state.services`` (hung there by ``create_app``).

Each function's composition root (``orchestra.compose``) builds only what it serves: the
routes ask for the use case they call, and a route mounted on a function that does not
serve it is a wiring bug (an OpenAI-shaped 500, logged), never an ``AttributeError``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol

from fastapi import Request

from orchestra.api.auth import ApiKeyAuth
from orchestra.catalog.source import CatalogSource
from orchestra.config import Settings
from orchestra.debate.service import DebateService
from orchestra.errors import InvalidRequest
from orchestra.generate.service import Generate
from orchestra.multi.service import MultiGenerate
from orchestra.providers.registry import Registry
from orchestra.redaction import Redactor


class Served(Protocol):
    """What every function serves, and the use cases some of them do."""

    settings: Settings
    auth: ApiKeyAuth
    redactor: Redactor
    registry: Registry
    catalog: CatalogSource
    gateway: Generate | None
    multi: MultiGenerate | None
    debates: DebateService | None

    async def aclose(self) -> None: ...


class NotServed(RuntimeError):
    """A route reached a function whose composition root did not build its use case."""


def services_of(request: Request) -> Served:
    services: Served = request.app.state.services
    return services


def generate_of(services: Served) -> Generate:
    if services.gateway is None:
        raise NotServed("generate is not served by this function")
    return services.gateway


def multi_of(services: Served) -> MultiGenerate:
    if services.multi is None:
        raise NotServed("multi-generate is not served by this function")
    return services.multi


def debates_of(services: Served) -> DebateService:
    if services.debates is None:
        raise NotServed("debates are not served by this function")
    return services.debates


def only_query(*declared: str) -> Callable[[Request], Awaitable[None]]:
    """A route dependency refusing query parameters it does not declare (a misspelt
    ``?profle=`` would otherwise be ignored without a word)."""

    async def check(request: Request) -> None:
        for name in request.query_params:
            if name not in declared:
                raise InvalidRequest(
                    f"Unknown query parameter '{name}'", param=name, code="unknown_parameter"
                )

    return check
