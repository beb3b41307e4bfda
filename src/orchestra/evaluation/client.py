"""The gateway's HTTP API as an evaluation calls it: chat, multi-generate, debates, models.

One client serves both ways of running: an ``httpx.AsyncClient`` over
``httpx.ASGITransport`` (the gateway in-process) or over the network (``--base-url``, the
key in its default headers). Every call bypasses the answer cache
(``Cache-Control: no-cache, no-store``): a cached answer costs nothing and takes no time,
which would flatter whichever strategy asked a question second.

Every failure is a :class:`~orchestra.errors.GatewayCallFailed`: the gateway's status and
OpenAI-shaped ``code``, or status 0 for a transport error or a timeout (retryable).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx

from orchestra.errors import GatewayCallFailed
from orchestra.evaluation.protocols import Reply

#: the answer cache is neither read nor written: measurements are of real calls
NO_CACHE = {"cache-control": "no-cache, no-store"}
#: a debate's terminal states (schemas.debate.DebateStatus: all but RUNNING)
RUNNING = "RUNNING"
#: the key is missing, wrong, or may not make this call: no retry or other pair will pass
REFUSED = (401, 403)


class GatewayClient:
    """Implements :class:`~orchestra.evaluation.protocols.ChatClient` and the fused calls."""

    def __init__(
        self, http: httpx.AsyncClient, *, poll_s: float = 0.25, timeout_s: float = 600.0
    ) -> None:
        self.http = http
        self.poll_s = poll_s
        self.timeout_s = timeout_s
        #: the first 401/403 answered: the key will not do, the run should stop (not fail
        #: every pair the same way)
        self.refused: GatewayCallFailed | None = None

    async def chat(self, body: dict[str, Any]) -> Reply:
        """``POST /v1/chat/completions``."""
        return await self._call("POST", "/v1/chat/completions", body)

    async def multi(self, body: dict[str, Any]) -> Reply:
        """``POST /v1/multi-generate``."""
        return await self._call("POST", "/v1/multi-generate", body)

    async def debate(self, body: dict[str, Any]) -> Reply:
        """``POST /v1/debates`` (202), then its ``status_url`` polled until the debate is no
        longer running; the reply is the final view, its latency the whole debate's."""
        started = time.perf_counter()
        deadline = started + self.timeout_s
        accepted = await self._call("POST", "/v1/debates", body)
        url = accepted.body.get("status_url") or f"/v1/debates/{accepted.body.get('id')}"
        view, delay = accepted, self.poll_s / 16
        while view.body.get("status", RUNNING) == RUNNING:
            if time.perf_counter() + delay > deadline:
                raise GatewayCallFailed(
                    f"debate {accepted.body.get('id')} still running after {self.timeout_s:.0f} s",
                    status=0,
                    code="timeout",
                )
            await asyncio.sleep(delay)
            # soon at first (an in-process debate ends in milliseconds), then every poll_s
            delay = min(delay * 2, self.poll_s)
            view = await self._call("GET", str(url))
        view.latency_ms = (time.perf_counter() - started) * 1000
        return view

    async def models(self) -> list[dict[str, Any]]:
        """``GET /v1/models``'s ``data``: ids, prices, quality."""
        reply = await self._call("GET", "/v1/models")
        data = reply.body.get("data")
        return [m for m in data if isinstance(m, dict)] if isinstance(data, list) else []

    async def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Reply:
        started = time.perf_counter()
        try:
            response = await self.http.request(
                method, path, json=body, headers=NO_CACHE, timeout=self.timeout_s
            )
        except httpx.TimeoutException as exc:
            raise GatewayCallFailed(
                f"{method} {path} timed out: {safe_reason(exc)}", status=0, code="timeout"
            ) from exc
        except (httpx.TransportError, httpx.InvalidURL) as exc:
            raise GatewayCallFailed(
                f"{method} {path} failed: {safe_reason(exc)}", status=0, code="connection_error"
            ) from exc
        latency_ms = (time.perf_counter() - started) * 1000
        payload = _json(response)
        if response.status_code >= 400:
            failure = _failure(method, path, response.status_code, payload)
            failure.attempts = attempts_of(response.headers.get("x-orchestra-attempts", ""))
            if failure.status in REFUSED and self.refused is None:
                self.refused = failure
            raise failure
        if not isinstance(payload, dict):
            raise GatewayCallFailed(
                f"{method} {path} answered {response.status_code} without a JSON object",
                status=502,
                code="invalid_response",
            )
        headers = {k.lower(): v for k, v in response.headers.items()}
        return Reply(payload, headers, latency_ms)


def safe_reason(exc: Exception) -> str:
    """What went wrong, safe to print: the exception's type, and its text only for a failed
    connection (the OS's reason). Never ``repr``: a refused header's error quotes the header,
    the key in it."""
    if (
        isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout)
        and "bearer" not in str(exc).lower()
    ):
        return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return type(exc).__name__


def attempts_of(header: str) -> int:
    """How many upstream calls an ``x-orchestra-attempts`` header lists (``;``-separated)."""
    return len([a for a in header.split(";") if a.strip()])


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _failure(method: str, path: str, status: int, payload: Any) -> GatewayCallFailed:
    """The gateway's OpenAI-shaped error (``{"error": {"message", "code"}}``) as raised."""
    error = payload.get("error") if isinstance(payload, dict) else None
    if not isinstance(error, dict):
        return GatewayCallFailed(f"{method} {path} answered {status}", status=status)
    message = str(error.get("message") or f"{method} {path} answered {status}")
    code = error.get("code") or error.get("type")
    return GatewayCallFailed(message, status=status, code=str(code) if code else None)
