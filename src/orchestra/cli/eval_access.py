"""How ``orchestra eval`` reaches a gateway, a deployed one (``--base-url``) or this one
in-process, without leaking what lets it in: the key (taken stripped, refused with spaces or
control characters, never printed) and a ``--base-url`` whose ``user:password@`` is never
printed nor written to ``run.json``; and the one line said when the gateway cannot be used."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import httpx

    from orchestra.errors import GatewayCallFailed
    from orchestra.evaluation.records import Dataset

#: in-process: any host will do, the transport never leaves the process
IN_PROCESS_URL = "http://orchestra.in-process"
SIMULATOR_NOTE = (
    "NOTE: the LOCAL SIMULATOR answers (no provider key or config found, or "
    "ORCHESTRA_SIMULATOR): simulator answering from the dataset's answers at each model's "
    "accuracy (ORCHESTRA_SIMULATOR_ACCURACY); the figures measure the harness, not real models"
)


def error(message: str) -> None:
    print(f"error: {message}", file=sys.stderr)


class AccessError(ValueError):
    """A key or URL that cannot be used; the message never quotes the secret."""


def api_key(args: argparse.Namespace) -> str | None:
    """``--api-key``, else ``ORCHESTRA_API_KEY``, stripped (a key file's newline or CRLF is
    not part of the key); :class:`AccessError` for one no HTTP header can carry."""
    key = str(args.api_key or os.environ.get("ORCHESTRA_API_KEY") or "").strip()
    if not key:
        return None
    if any(c.isspace() or not c.isprintable() or not c.isascii() for c in key):
        where = "--api-key" if args.api_key else "ORCHESTRA_API_KEY"
        raise AccessError(
            f"the API key ({where}) holds spaces, control or non-ASCII characters: "
            "give the key alone"
        )
    return key


def public_url(url: str) -> str:
    """``url`` without its ``user:password@``: the form printed and recorded. Raises
    :class:`AccessError` for a URL httpx cannot use (without quoting it)."""
    import httpx

    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, ValueError, TypeError):
        raise AccessError("--base-url is not a valid URL (e.g. http://localhost:8000)") from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise AccessError("--base-url must be an http:// or https:// URL with a host")
    return str(parsed.copy_with(userinfo=b"")) if parsed.userinfo else url


def where(base_url: str | None) -> str:
    return f"the gateway at {public_url(base_url)}" if base_url else "the in-process gateway"


def gateway_said(base_url: str | None, exc: GatewayCallFailed) -> str:
    """One line for a gateway that cannot be used at all: down, or the key refused."""
    at = where(base_url)
    said = f"{exc.status} {exc.code}: {exc.message}"
    if exc.status == 0:
        return f"cannot reach {at} ({exc.message}): is it running, and the URL right?"
    if exc.status == 401:
        return f"{at} refused the key ({said}): give its key with --api-key or ORCHESTRA_API_KEY"
    if exc.status == 403:
        return f"{at} refused the call with this key ({said}): use a key allowed to make it"
    if exc.code == "budget_exceeded":
        return (
            f"{at} stopped the run: the key's budget is spent ({exc.message}); "
            "rerun when it resets, or with a key that has budget left"
        )
    return f"{at} failed ({said})"


def simulator_only(models: Sequence[Mapping[str, Any]]) -> bool:
    """A deployed gateway answering with the simulator only (every model it lists is the
    simulator's): its figures measure the harness, and the report says so."""
    owners = {m.get("owned_by") for m in models if not str(m.get("id", "")).startswith("auto")}
    return owners == {"simulator"}


@asynccontextmanager
async def gateway(args: argparse.Namespace, dataset: Dataset) -> AsyncIterator[tuple[Any, bool]]:
    """``(httpx.AsyncClient, simulated)``: a deployed gateway, or this one in-process."""
    import httpx

    if args.base_url:
        key = api_key(args)
        headers = {"authorization": f"Bearer {key}"} if key else {}
        async with httpx.AsyncClient(
            base_url=args.base_url, headers=headers, timeout=600.0
        ) as http:
            yield http, False
        return
    services = in_process_services(dataset)
    if services is None:
        raise Said
    try:
        async with _asgi_client(services, api_key(args)) as http:
            yield http, bool(services.registry.simulated)
    finally:
        await services.aclose()


class Said(Exception):
    """A usage error already said on stderr (exit 2): the services could not be built, no
    judge can be picked."""


def in_process_services(dataset: Dataset) -> Any:
    """The gateway's services from the local settings; the simulator (used when no provider
    is configured, or ``ORCHESTRA_SIMULATOR``) answers from the dataset: its oracle."""
    from pydantic import ValidationError

    from orchestra.cli import _build_services
    from orchestra.config import get_settings
    from orchestra.evaluation.results import one_line

    try:
        settings = get_settings().model_copy(update={"simulator_oracle": dataset.path})
    except ValidationError as exc:  # an ORCHESTRA_* setting: one line, not pydantic's page
        error(f"settings: {one_line(exc)}")
        return None
    services = _build_services(settings)
    if services is not None and services.registry.simulated:
        print(SIMULATOR_NOTE, file=sys.stderr)
    return services


@asynccontextmanager
async def _asgi_client(services: Any, key: str | None) -> AsyncIterator[httpx.AsyncClient]:
    """The in-process gateway called with ``key``; none given, with its first configured key
    (ORCHESTRA_API_KEYS), so a local run needs no key of its own."""
    import httpx

    from orchestra.api.app import create_app

    keys = [k.strip() for k in (services.settings.api_keys or "").split(",") if k.strip()]
    key = key or (keys[0] if keys else None)
    headers = {"authorization": f"Bearer {key}"} if key else {}
    transport = httpx.ASGITransport(app=create_app(services))
    async with httpx.AsyncClient(
        transport=transport, base_url=IN_PROCESS_URL, headers=headers, timeout=600.0
    ) as http:
        yield http
