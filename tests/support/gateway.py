"""The gateway as ``orchestra serve`` builds it, driven in-process over ASGI, in front of
fake upstreams on 127.0.0.1 (:class:`~support.upstream.FakeUpstream`)."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import httpx

from orchestra.api.app import create_app
from orchestra.compose import build_services
from orchestra.config import Settings

from support.upstream import FakeUpstream


@contextlib.asynccontextmanager
async def gateway_client(
    settings: Settings, environ: Mapping[str, str]
) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the app built from ``settings`` (keys looked up in ``environ``); its
    services are closed on exit."""
    services = build_services(settings, environ)
    transport = httpx.ASGITransport(app=create_app(services))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
            yield client
    finally:
        await services.aclose()


@contextlib.asynccontextmanager
async def started(fakes: dict[str, FakeUpstream]) -> AsyncIterator[dict[str, FakeUpstream]]:
    """``fakes`` listening on 127.0.0.1 for the block, stopped after."""
    for fake in fakes.values():
        await fake.start()
    try:
        yield fakes
    finally:
        for fake in fakes.values():
            await fake.stop()


def providers_file(
    tmp_path: Path, models: Mapping[str, tuple[str, str, dict[str, Any]]], **extra: Any
) -> Path:
    """An orchestra.yaml of providers, ``name -> (wire type, base URL, its one model
    entry)``, each keyed by the variable ``<NAME>_KEY``; ``extra``: more top-level sections
    (``deployments``)."""
    providers = [
        {
            "name": name,
            "type": kind,
            "base_url": url,
            "api_key_env": f"{name.upper()}_KEY",
            "models": [model],
        }
        for name, (kind, url, model) in models.items()
    ]
    path = tmp_path / "orchestra.yaml"
    path.write_text(json.dumps({"providers": providers, **extra}))
    return path


def openai_providers(
    tmp_path: Path, models: Mapping[str, tuple[str, dict[str, Any]]], **extra: Any
) -> Path:
    """:func:`providers_file` of OpenAI-compatible fakes, ``name -> (upstream URL, model)``."""
    typed = {name: ("openai", f"{url}/v1", model) for name, (url, model) in models.items()}
    return providers_file(tmp_path, typed, **extra)
