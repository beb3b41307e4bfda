"""The shared HTTP client and the one place transport failures become typed errors.

One ``httpx.AsyncClient`` per event loop (over the aiohttp transport: less CPU per call and
no pool collapse under concurrency), reused across warm Lambda invocations. Its connector
resolves names through :class:`~orchestra.transport.resolver.GuardedResolver`, which applies
the SSRF rules to every address at connect time. Tests pass a ``transport``
(``httpx.MockTransport``) instead.

Model calls go through :meth:`HttpClients.send`, straight to that transport with requests
from :func:`post_request` (no cookie jar shared by tenants, no per-call URL parsing); the
client itself serves the catalog syncs.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import json
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import TYPE_CHECKING, Any

import httpx
import pydantic_core
from pydantic import ValidationError

from orchestra.errors import (
    ConnectionFailed,
    ContextLengthExceeded,
    MalformedResponse,
    ModelUnavailable,
    Overloaded,
    ProviderAuthError,
    ProviderBadRequest,
    ProviderError,
    ProviderTimeout,
    RateLimited,
    ServerError,
    UnsafeBaseURL,
    UpstreamAddressRefused,
)
from orchestra.transport.ssrf import AddressPolicy

if TYPE_CHECKING:
    import aiohttp

#: sent on every upstream call (vendors see the gateway, not an anonymous HTTP library)
USER_AGENT = "orchestra-gateway/0.1"
DEFAULT_LIMITS = httpx.Limits(
    max_connections=200, max_keepalive_connections=50, keepalive_expiry=60
)


def _aiohttp_transport(policy: AddressPolicy) -> httpx.AsyncBaseTransport:
    """The aiohttp transport, its session built on first use with the guarded resolver."""
    from httpx_aiohttp import AiohttpTransport

    def session() -> aiohttp.ClientSession:
        return _guarded_session(transport.ssl_context, policy)

    transport = AiohttpTransport(limits=DEFAULT_LIMITS, client=session)
    return transport  # type: ignore[no-any-return]


def _guarded_session(ssl_context: Any, policy: AddressPolicy) -> aiohttp.ClientSession:
    """What ``AiohttpTransport`` would build, plus the resolver (runs inside the loop)."""
    import aiohttp

    from orchestra.transport.resolver import GuardedResolver

    connector = aiohttp.TCPConnector(
        limit=DEFAULT_LIMITS.max_connections or 0,
        keepalive_timeout=DEFAULT_LIMITS.keepalive_expiry,
        ssl=ssl_context,
        resolver=GuardedResolver(policy),
    )
    return aiohttp.ClientSession(connector=connector)


class HttpClients:
    """Hands out one AsyncClient per running event loop.

    Mangum and uvicorn each keep one loop alive, so in practice there is one client per
    process; the loop key keeps a client from ever being used on a loop it was not made on.
    """

    def __init__(
        self,
        transport_factory: Callable[[], httpx.AsyncBaseTransport] | None = None,
        *,
        policy: AddressPolicy | None = None,
    ) -> None:
        #: which addresses upstream connections may reach (default: public ones only)
        self.policy = policy or AddressPolicy()
        self._factory = transport_factory or (lambda: _aiohttp_transport(self.policy))
        self._clients: dict[int, tuple[httpx.AsyncClient, httpx.AsyncBaseTransport]] = {}

    @classmethod
    def with_transport(cls, transport: httpx.AsyncBaseTransport) -> HttpClients:
        return cls(lambda: transport)

    def get(self) -> httpx.AsyncClient:
        return self._for_loop()[0]

    def _for_loop(self) -> tuple[httpx.AsyncClient, httpx.AsyncBaseTransport]:
        """This loop's client and the transport under it, made on first use."""
        loop = id(asyncio.get_running_loop())
        pair = self._clients.get(loop)
        if pair is None or pair[0].is_closed:
            transport = self._factory()
            client = httpx.AsyncClient(
                transport=transport,
                timeout=httpx.Timeout(60.0, connect=5.0),
                follow_redirects=False,
            )
            pair = (client, transport)
            self._clients = {loop: pair}
        return pair

    async def send(self, request: httpx.Request, *, stream: bool = False) -> httpx.Response:
        """``request`` straight to the transport: the gateway's upstream calls.

        Skips what ``AsyncClient.send`` adds and a gateway does not want: a cookie jar
        shared by every tenant (an upstream's ``Set-Cookie`` would ride along on everyone's
        later calls), redirect and auth flows (never used). Not streamed: the body is read
        and the connection released before returning.
        """
        transport = self._for_loop()[1]
        response = await transport.handle_async_request(request)
        response.request = request
        if not stream:
            try:
                await response.aread()
            finally:
                await response.aclose()
        return response

    async def aclose(self) -> None:
        clients, self._clients = self._clients, {}
        for client, _ in clients.values():
            await client.aclose()


def post_request(
    url: httpx.URL, headers: httpx.Headers, body: bytes, timeout: httpx.Timeout
) -> httpx.Request:
    """A POST ready for :meth:`HttpClients.send`."""
    return httpx.Request(
        "POST", url, headers=headers, content=body, extensions={"timeout": timeout.as_dict()}
    )


def timeout_for(total: float, connect: float) -> httpx.Timeout:
    """A per-call timeout: connect bounded separately, reads bounded by what is left."""
    total = max(total, 0.001)
    return httpx.Timeout(total, connect=min(connect, total), pool=min(connect, total))


@contextlib.contextmanager
def map_errors(provider: str, model: str) -> Iterator[None]:
    """Turn transport and decoding failures into the typed hierarchy."""
    try:
        yield
    except ProviderError:
        raise
    except UnsafeBaseURL as exc:  # raised by the guarded resolver, before any socket
        raise UpstreamAddressRefused(
            f"{provider}: the upstream address was refused by the SSRF rules ({exc.rule})",
            provider=provider,
            model=model,
            rule=exc.rule,
        ) from exc
    except (httpx.ConnectTimeout, httpx.ConnectError) as exc:
        raise ConnectionFailed(
            f"could not connect to {provider}", provider=provider, model=model
        ) from exc
    except httpx.TimeoutException as exc:
        raise ProviderTimeout(
            f"{provider} did not answer in time", provider=provider, model=model
        ) from exc
    except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError) as exc:
        raise ConnectionFailed(
            f"connection to {provider} broke", provider=provider, model=model
        ) from exc
    except httpx.HTTPError as exc:
        raise ConnectionFailed(
            f"transport error talking to {provider}", provider=provider, model=model
        ) from exc
    except (json.JSONDecodeError, ValidationError, KeyError, IndexError, TypeError) as exc:
        raise MalformedResponse(
            f"{provider} sent a response that could not be read", provider=provider, model=model
        ) from exc


def parse_retry_after(headers: httpx.Headers, now: float | None = None) -> float | None:
    """Seconds to wait from ``retry-after-ms`` or ``retry-after`` (seconds or HTTP date)."""
    if (ms := headers.get("retry-after-ms")) is not None:
        with contextlib.suppress(ValueError):
            return max(float(ms) / 1000.0, 0.0)
    value = headers.get("retry-after")
    if value is None:
        return None
    with contextlib.suppress(ValueError):
        return max(float(value), 0.0)
    with contextlib.suppress(TypeError, ValueError):
        when = email.utils.parsedate_to_datetime(value).timestamp()
        return max(when - (now if now is not None else time.time()), 0.0)
    return None


def parse_duration(value: Any) -> float | None:
    """Google-style durations such as ``"17s"`` or ``"0.5s"``."""
    if isinstance(value, str) and value.endswith("s"):
        with contextlib.suppress(ValueError):
            return max(float(value[:-1]), 0.0)
    return None


def error_for_status(
    status: int,
    message: str,
    *,
    provider: str,
    model: str,
    retry_after: float | None = None,
    context_length: bool = False,
    code: str | None = None,
) -> ProviderError:
    """The typed error for a vendor HTTP status; vendors refine via the keyword flags."""
    kw: dict[str, Any] = {"provider": provider, "model": model, "upstream_status": status}
    text = f"{provider} returned {status}: {message}"
    if context_length:
        return ContextLengthExceeded(text, **kw)
    if status == 429:
        return RateLimited(text, retry_after=retry_after, **kw)
    if status in (503, 529):
        return Overloaded(text, retry_after=retry_after, **kw)
    if status in (408, 504):
        return ProviderTimeout(text, **kw)
    if status in (401, 403):
        return ProviderAuthError(f"{provider} refused Orchestra's credentials ({status})", **kw)
    if status == 404:
        return ModelUnavailable(text, **kw)
    if status >= 500 or status in (409, 425):
        return ServerError(text, **kw)
    return ProviderBadRequest(text, code=code, **kw)


def read_json(response: httpx.Response) -> Any:
    """The body as JSON; a body that is not JSON raises ``json.JSONDecodeError``."""
    content = response.content
    try:
        return pydantic_core.from_json(content)
    except ValueError as exc:
        text = content.decode("utf-8", "replace")
        raise json.JSONDecodeError(f"not a JSON body ({exc})", text, 0) from exc


def error_message(body: Any, fallback: str) -> str:
    """The human message inside the common vendor error envelopes."""
    if isinstance(body, list) and body:
        body = body[0]
    if isinstance(body, dict):
        err = body.get("error", body)
        if isinstance(err, dict):
            msg = err.get("message") or err.get("msg")
            if isinstance(msg, str) and msg:
                return msg[:500]
        elif isinstance(err, str) and err:
            return err[:500]
        if isinstance(body.get("message"), str):
            return str(body["message"])[:500]
    return fallback


ErrorFactory = Callable[[httpx.Response, bytes], ProviderError]
#: told an answer's status and headers (rate-limit steering)
HeadersSeen = Callable[[int, httpx.Headers], None]


@contextlib.asynccontextmanager
async def send_streaming(
    http: HttpClients,
    request: httpx.Request,
    on_error: ErrorFactory,
    on_headers: HeadersSeen | None = None,
) -> AsyncIterator[httpx.Response]:
    """Send with a streamed body; an error status is read whole and raised typed.

    The response is always closed on exit, so an abandoned stream (client gone, deadline,
    fallback) gives its connection back at once. ``on_headers`` sees the status and headers.
    """
    response = await http.send(request, stream=True)
    try:
        if on_headers is not None:
            on_headers(response.status_code, response.headers)
        if response.status_code >= 400:
            raise on_error(response, await response.aread())
        yield response
    finally:
        await response.aclose()


async def post_json(
    http: HttpClients,
    request: httpx.Request,
    on_error: ErrorFactory,
    on_headers: HeadersSeen | None = None,
) -> Any:
    """Send a request and return its JSON body; an error status is raised typed.
    ``on_headers`` sees the status and headers first."""
    response = await http.send(request)
    if on_headers is not None:
        on_headers(response.status_code, response.headers)
    if response.status_code >= 400:
        raise on_error(response, response.content)
    return read_json(response)


def json_or_none(raw: bytes) -> Any:
    with contextlib.suppress(ValueError, UnicodeDecodeError):
        return json.loads(raw)
    return None
