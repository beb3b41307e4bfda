"""What the routes need, as FastAPI dependencies: the preamble every route shares.

The preamble, in this order: the function's services (``app.state.services``, hung there by
``create_app``), the caller's key, then the body, read size-capped and parsed. A GET route
declares :data:`Authorized`; a POST route declares its parsed body with
:func:`checked_body`, which runs the whole preamble as one dependency: FastAPI resolves each
dependency on every request (about 25 microseconds each here), so the hot routes pay for
one, not four. The use case comes from :func:`generate_of` and friends.

Each function's composition root (``orchestra.compose``) builds only what it serves: a route
mounted on a function that does not serve its use case is a wiring bug (an OpenAI-shaped
500, logged), never an ``AttributeError``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, Generic, Protocol, TypeVar

from fastapi import Depends, Query, Request

from orchestra.api.auth import gateway_principal
from orchestra.api.body import read_body
from orchestra.cache.records import MAX_TTL_S, CacheOptions
from orchestra.caller import set_caller, set_principal
from orchestra.errors import InvalidRequest
from orchestra.governance.admission import current_admission
from orchestra.schemas.options import (
    CACHE_ALLOW_STALE_HEADER,
    CACHE_CONTROL_HEADER,
    CACHE_SEMANTIC_HEADER,
    CACHE_TTL_HEADER,
    CONTINUE_STREAMS_HEADER,
    OrchestraOptions,
    flag,
    header_options,
)

if TYPE_CHECKING:  # annotations only: a function imports the use cases it serves, no more
    from orchestra.api.auth import ApiKeyAuth
    from orchestra.catalog.source import CatalogSource
    from orchestra.config import Settings
    from orchestra.debate.service import DebateService
    from orchestra.embed.service import Embed
    from orchestra.generate.service import Generate
    from orchestra.governance.admission import Governor
    from orchestra.multi.service import MultiGenerate
    from orchestra.providers.registry import Registry
    from orchestra.redaction import Redactor
    from orchestra.storage.responses import ResponseStore


class Served(Protocol):
    """What every function serves, and the use cases some of them do."""

    settings: Settings
    auth: ApiKeyAuth
    redactor: Redactor
    registry: Registry
    catalog: CatalogSource
    gateway: Generate | None
    embeddings: Embed | None
    multi: MultiGenerate | None
    debates: DebateService | None
    responses: ResponseStore | None
    #: admits each request's principal (policies, ledger, guardrails); None: governance off
    governor: Governor | None

    async def aclose(self) -> None: ...


class NotServed(RuntimeError):
    """A route reached a function whose composition root did not build its use case."""


T = TypeVar("T")


def services_of(request: Request) -> Served:
    services: Served = request.app.state.services
    return services


async def _services(request: Request) -> Served:
    return services_of(request)


#: the function's services, unauthenticated (``/health``)
Services = Annotated[Served, Depends(_services)]


def presented_credentials(request: Request) -> str | None:
    """The caller's key as an ``Authorization`` value, however its client sends it:
    ``Authorization: Bearer`` (OpenAI SDKs, Claude Code's ``ANTHROPIC_AUTH_TOKEN``),
    ``x-api-key`` (the Anthropic SDK), ``x-goog-api-key`` or ``?key=`` (google-genai, Gemini
    REST)."""
    headers = request.headers
    authorization = headers.get("authorization")
    if authorization is not None:
        return authorization
    key = headers.get("x-api-key") or headers.get("x-goog-api-key")
    if key is None and request.url.path.startswith(("/v1beta/", "/v1/models/")):
        key = request.query_params.get("key")
    return None if key is None else "Bearer " + key


async def authorized(request: Request) -> Served:
    """The services, once the caller's key (:func:`presented_credentials`) is accepted.

    The key's principal is ``request.state.principal`` (and the context's, for a debate
    to record its creator); with governance on, its admission (policies, ledger scopes,
    guardrail modes) is the context's :data:`~orchestra.governance.admission.
    current_admission` for the rest of the request."""
    services = services_of(request)
    credentials = presented_credentials(request)
    auth = services.auth
    trusted = gateway_principal(request.scope) if auth.trust_gateway else None
    principal = await auth.check(credentials, trusted)
    set_caller(credentials)  # per-caller budgets (hedges per minute) count against it
    set_principal(principal)
    request.state.principal = principal
    if services.governor is not None:
        current_admission.set(await services.governor.admit(principal))
    return services


#: every ``/v1`` GET route: the caller's key checked before anything else is looked at
Authorized = Annotated[Served, Depends(authorized)]


@dataclass(frozen=True, slots=True)
class Checked(Generic[T]):
    """A request past the preamble: its services and its parsed body."""

    services: Served
    body: T


def checked_body(parse: Callable[[bytes], T]) -> Any:
    """``Depends`` on the preamble: key checked, body read (capped at ``max_body_bytes``)
    and parsed by ``parse``, whose errors are the client's 400s."""

    async def preamble(request: Request) -> Checked[T]:
        services = await authorized(request)
        header_options.set(options_in_headers(request))
        body = await read_body(request, services.settings.max_body_bytes)
        return Checked(services, parse(body))

    return Depends(preamble)


def options_in_headers(request: Request) -> OrchestraOptions | None:
    """The request options given as ``x-orchestra-*`` headers (and ``Cache-Control``),
    whatever the body's format (set for the use case in
    :data:`~orchestra.schemas.options.header_options` on every request, so one request's
    never outlive it); an invalid value is a 400 naming the header."""
    headers = request.headers
    value = headers.get(CONTINUE_STREAMS_HEADER)
    cache = cache_options_in_headers(headers)
    if value is None and cache is None:
        return None
    return OrchestraOptions(
        continue_streams=None if value is None else _flag(CONTINUE_STREAMS_HEADER, value),
        cache=cache,
    )


def _invalid(header: str, expected: str) -> InvalidRequest:
    return InvalidRequest(
        f"Invalid value for header '{header}': expected {expected}",
        param=header,
        code="invalid_value",
    )


def _flag(header: str, value: str) -> bool:
    parsed = flag(value)
    if parsed is None:
        raise _invalid(header, "true or false")
    return parsed


def cache_options_in_headers(headers: Mapping[str, str]) -> CacheOptions | None:
    """The answer cache's controls in headers (docs/cache.md); None when none is given.
    ``Cache-Control`` directives other than ``no-cache``, ``no-store`` and ``max-age``
    (and a ``max-age`` that is not a number) are ignored, as HTTP caches do."""
    ttl, stale = headers.get(CACHE_TTL_HEADER), headers.get(CACHE_ALLOW_STALE_HEADER)
    semantic, control = headers.get(CACHE_SEMANTIC_HEADER), headers.get(CACHE_CONTROL_HEADER)
    if ttl is None and stale is None and semantic is None and control is None:
        return None
    fields: dict[str, Any] = {}
    if ttl is not None:
        ttl = ttl.strip()
        if not ttl.isdigit() or not 1 <= int(ttl) <= MAX_TTL_S:
            raise _invalid(CACHE_TTL_HEADER, f"a whole number of seconds from 1 to {MAX_TTL_S}")
        fields["ttl"] = int(ttl)
    if stale is not None:
        fields["allow_stale"] = _flag(CACHE_ALLOW_STALE_HEADER, stale)
    if semantic is not None:
        fields["semantic"] = _flag(CACHE_SEMANTIC_HEADER, semantic)
    for directive in (control or "").lower().split(","):
        name, _, argument = directive.strip().partition("=")
        if name in ("no-cache", "no-store"):
            fields[name.replace("-", "_")] = True
        elif name == "max-age" and argument.strip().isdigit():
            fields["max_age"] = int(argument.strip())
    return CacheOptions(**fields) if fields else None


def generate_of(services: Served) -> Generate:
    if services.gateway is None:
        raise NotServed("generate is not served by this function")
    return services.gateway


def embed_of(services: Served) -> Embed:
    if services.embeddings is None:
        raise NotServed("embeddings are not served by this function")
    return services.embeddings


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


def page_size(most: int, default: int = 20) -> Any:
    """A list route's ``limit`` query (OpenAI's lists: chains, files, batches) as a
    dependency: its bounds (1 to ``most``) documented for the contract and checked here,
    not by FastAPI's bounds, so the 400 names ``limit`` itself, as OpenAI's does (a bound's
    error would name ``query.limit``)."""
    bounds = {"minimum": 1, "maximum": most}

    # a default of Query(...), not Annotated: the annotation stays a plain string to resolve
    def limit(
        limit: int = Query(default, description=f"1 to {most:,}", json_schema_extra=bounds),
    ) -> int:
        if not 1 <= limit <= most:
            raise InvalidRequest(
                f"limit must be between 1 and {most}, got {limit}",
                param="limit",
                code="invalid_value",
            )
        return limit

    return Depends(limit)
