"""``create_app(services, routers)``: the FastAPI app shared by local serve and Lambda."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from fastapi import APIRouter, FastAPI

from orchestra.api.errors import install_error_handlers
from orchestra.api.fast_hits import RepeatHits
from orchestra.api.openapi import install_openapi
from orchestra.governance.deferred import SettleAfterResponse

if TYPE_CHECKING:
    from orchestra.api.deps import Served


def generate_routers() -> list[APIRouter]:
    """What the generate function serves: one answer in every client's format, embeddings,
    the catalog and health."""
    from orchestra.api.routes import chat, embeddings, gemini, health, messages, models, responses

    return [
        chat.router,
        messages.router,
        responses.router,
        gemini.router,
        embeddings.router,
        models.router,
        health.router,
    ]


def admin_routers() -> list[APIRouter]:
    """What the admin function serves: keys and teams, spend reports, health."""
    from orchestra.api.routes import admin, health, spend

    return [admin.router, spend.router, health.router]


def default_routers() -> list[APIRouter]:
    """Every route (local serve, the tests): the generate function's, multi, debates, the
    admin API, spend, and the workflows (chains, files, batches)."""
    from orchestra.api.routes import batches, chains, debates, files, multi

    *answers, models, health = generate_routers()
    admin, spend, _ = admin_routers()
    workflows = [chains.router, files.router, batches.router]
    return [*answers, multi.router, debates.router, admin, spend, models, health, *workflows]


def create_app(services: Served, routers: Sequence[APIRouter] | None = None) -> FastAPI:
    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        await services.aclose()

    app = FastAPI(
        lifespan=lifespan,
        title="Orchestra",
        version="0.1.0",
        description="OpenAI-compatible multi-LLM gateway",
        docs_url="/docs",
        redoc_url=None,
    )
    app.state.services = services
    # repeats of exact cache hits, in front of the router and inside the settle (its spend
    # row lands after the response): added first, it sits innermost of the two
    app.add_middleware(RepeatHits, services=services)
    app.add_middleware(SettleAfterResponse)  # a call's settle lands after its response
    install_error_handlers(app)
    install_openapi(app)
    for router in routers if routers is not None else default_routers():
        app.include_router(router)
    if getattr(services, "prometheus", None) is not None:  # orchestra serve's /metrics
        from orchestra.api.routes import metrics

        app.include_router(metrics.router)
    return app
