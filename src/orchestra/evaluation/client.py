"""The gateway's HTTP API as an evaluation calls it: chat, multi-generate, debates, models.

One client serves both ways of running: an ``httpx.AsyncClient`` over
``httpx.ASGITransport`` (the gateway in-process) or over the network (``--base-url``, the
key in its default headers). Every call bypasses the answer cache
(``Cache-Control: no-cache, no-store``): a cached answer costs nothing and takes no time,
which would flatter whichever strategy asked a question second.

Every failure is a :class:`~orchestra.errors.GatewayCallFailed`: the gateway's status and
OpenAI-shaped ``code``, or status 0 for a transport error or a timeout (retryable).

A rate limit (429) or an overloaded gateway (503) is waited out: the call is asked again up
to ``retries`` times, after the ``Retry-After``/``retry-after-ms`` the gateway sent (each wait
capped at ``max_wait_s``) or a jittered exponential backoff; so is a failed connection (the
request never left). A timed-out POST is not repeated (it may be running, and spending, on the
server). Without this, one 429 mid-run failed every remaining pair within a second and the
report counted them as wrong answers. A 429 ``budget_exceeded`` is never retried: the key's
budget will not refill during the run, so like a 401/403 it is kept in :attr:`refused` and
the run halts (a spend refusal, not a failure of the strategy).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx

from orchestra.errors import GatewayCallFailed
from orchestra.evaluation.protocols import Reply
from orchestra.transport.http import parse_retry_after

#: the answer cache is neither read nor written: measurements are of real calls
NO_CACHE = {"cache-control": "no-cache, no-store"}
#: a debate's terminal states (schemas.debate.DebateStatus: all but RUNNING)
RUNNING = "RUNNING"
#: the key is missing, wrong, or may not make this call: no retry or other pair will pass
REFUSED = (401, 403)
#: the key's budget is spent: no retry or other pair will pass until it resets
BUDGET_EXCEEDED = "budget_exceeded"
#: asked again after a wait: rate limited, overloaded, or the connection failed
WAITED_OUT = (0, 429, 503)


class GatewayClient:
    """Implements :class:`~orchestra.evaluation.protocols.ChatClient` and the fused calls."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        poll_s: float = 0.25,
        timeout_s: float = 600.0,
        retries: int = 3,
        max_wait_s: float = 30.0,
        status_retries: int = 5,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rng: random.Random | None = None,
    ) -> None:
        """``timeout_s``: one call's, and a whole debate's, deadline (``--debate-timeout``);
        ``retries``: repeats of a 429/503/failed connection; ``status_retries``: consecutive
        failed status polls a debate survives; ``sleep`` injectable so tests do not wait."""
        self.http = http
        self.poll_s = poll_s
        self.timeout_s = timeout_s
        self.retries, self.max_wait_s, self.status_retries = retries, max_wait_s, status_retries
        self.sleep = sleep
        self.rng = rng or random.Random()
        #: the first 401/403 or budget_exceeded answered: the key will not do, the run
        #: should stop (not fail every pair the same way)
        self.refused: GatewayCallFailed | None = None

    @property
    def over_budget(self) -> bool:
        """Whether the run halted on the key's spend budget (not on the key itself)."""
        return self.refused is not None and self.refused.code == BUDGET_EXCEEDED

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
        failures = [0]  # status polls failed in a row
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
            view = await self._poll(str(url), view, failures)
        view.latency_ms = (time.perf_counter() - started) * 1000
        return view

    async def _poll(self, url: str, last: Reply, failures: list[int]) -> Reply:
        """One status GET; a retryable failure is counted, not fatal: the debate goes on
        running (and spending) on the server, so abandoning it for one hiccup would pay
        for it twice on the rerun. ``status_retries`` failures in a row give up."""
        try:
            view = await self._call("GET", url)
        except GatewayCallFailed as exc:
            failures[0] += 1
            if not exc.retryable or failures[0] > self.status_retries:
                raise
            return last
        failures[0] = 0
        return view

    async def models(self, *, retries: int | None = None) -> list[dict[str, Any]]:
        """``GET /v1/models``'s ``data``: ids, prices, quality. ``retries=0`` for the first
        call of a run: a gateway that is down is said at once, not after the waits."""
        reply = await self._call("GET", "/v1/models", retries=retries)
        data = reply.body.get("data")
        return [m for m in data if isinstance(m, dict)] if isinstance(data, list) else []

    async def _call(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        *,
        retries: int | None = None,
    ) -> Reply:
        """One call, asked again after a wait while it is rate limited or overloaded."""
        most = self.retries if retries is None else retries
        for retry in range(most + 1):
            answer = await self._once(method, path, body)
            if isinstance(answer, Reply):
                return answer
            if retry == most or not _waits_out(method, answer.error):
                raise answer.error
            await self.sleep(self._wait(retry, answer.wait))
        raise AssertionError("unreachable")  # pragma: no cover

    def _wait(self, retry: int, suggested: float | None) -> float:
        """The gateway's Retry-After when it sent one, else an exponential backoff; jittered
        so the workers do not all come back at once; at most ``max_wait_s``."""
        base = suggested if suggested is not None else 0.5 * 2**retry
        return min(base + self.rng.uniform(0, 0.25 * base + 0.05), self.max_wait_s)

    async def _once(self, method: str, path: str, body: dict[str, Any] | None) -> Reply | Failed:
        started = time.perf_counter()
        try:
            response = await self.http.request(
                method, path, json=body, headers=NO_CACHE, timeout=self.timeout_s
            )
        except httpx.TimeoutException as exc:
            reason = f"{method} {path} timed out: {safe_reason(exc)}"
            return Failed(GatewayCallFailed(reason, status=0, code="timeout"))
        except (httpx.TransportError, httpx.InvalidURL) as exc:
            reason = f"{method} {path} failed: {safe_reason(exc)}"
            return Failed(GatewayCallFailed(reason, status=0, code="connection_error"))
        latency_ms = (time.perf_counter() - started) * 1000
        payload = _json(response)
        if response.status_code >= 400:
            failure = _failure(method, path, response.status_code, payload)
            failure.attempts = attempts_of(response.headers.get("x-orchestra-attempts", ""))
            refused = failure.status in REFUSED or failure.code == BUDGET_EXCEEDED
            if refused and self.refused is None:
                self.refused = failure
            return Failed(failure, parse_retry_after(response.headers))
        if not isinstance(payload, dict):
            raise GatewayCallFailed(
                f"{method} {path} answered {response.status_code} without a JSON object",
                status=502,
                code="invalid_response",
            )
        headers = {k.lower(): v for k, v in response.headers.items()}
        return Reply(payload, headers, latency_ms)


@dataclass(frozen=True)
class Failed:
    """A call's failure and the wait the gateway asked for (None: it said nothing)."""

    error: GatewayCallFailed
    wait: float | None = None


def _waits_out(method: str, error: GatewayCallFailed) -> bool:
    """Whether waiting may help: a rate limit or overload (not the key's spent budget), or
    a connection that failed; a timed-out POST may be running (and spending) already."""
    if error.status not in WAITED_OUT or error.code == BUDGET_EXCEEDED:
        return False
    return not (error.code == "timeout" and method != "GET")


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
