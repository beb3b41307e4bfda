"""The app as ``orchestra serve`` builds it, telemetry included (``orchestra.cli.serve_app``),
driven in-process over ASGI."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping
from typing import Any

import httpx

from orchestra.cli import serve_app
from orchestra.config import Settings


@contextlib.asynccontextmanager
async def served_client(
    settings: Settings, environ: Mapping[str, str], *, span_exporter: Any = None
) -> AsyncIterator[httpx.AsyncClient]:
    """A client of ``orchestra serve``'s app; its services are closed on exit."""
    built = serve_app(settings, environ, span_exporter=span_exporter)
    assert built is not None, "the services could not be built"
    services, app, telemetry = built
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
            yield client
    finally:
        await services.aclose()
        telemetry.shutdown()
