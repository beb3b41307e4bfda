"""In-process CPU of governance per request: generate with governance off, and on.

The same gateway as ``bench/generate_cpu.py`` (three OpenAI-compatible deployments of
``m1`` answered in-process by an ``httpx.MockTransport``), timed per request as the routes
run it: the admission (``Governor.admit`` with a warm policy cache), then
``Generate.generate`` (or ``open_stream`` + ``relay``), then the response headers. Cases:

- ``off``: no governor, nothing metered (what every deployment without governance runs);
- ``budgets``: a key with a day budget, a month budget and rpm/tpm limits, its team's
  month budget: every upstream call holds and settles on an in-memory ledger (an asyncio
  lock, no I/O; the DynamoDB round trips are network time, not CPU) and writes a spend row;
- ``budgets+seam``: the same, with the guardrails seam on (input checks and stream
  redaction through no-op stand-ins: the seam's own cost, not the checks'; those are
  ``bench/guardrails.py``'s).

Usage: ``python bench/governance_cpu.py [--repeat 2000] [--rounds 5]``; process CPU µs per
request: the best round (the least disturbed on a shared machine) and the median.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import statistics
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from generate_cpu import _config, _upstream


class MemoryLedger:
    """Holds and settles in memory (the ledger's signatures), no limit ever reached."""

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.committed: dict[str, int] = {}
        self.live: dict[int, Any] = {}
        self.ids = itertools.count()

    async def hold(
        self, scopes: Any, nanos: int, tokens: int, *, count_request: bool
    ) -> tuple[Any, list[Any]]:
        from orchestra.governance.protocols import RateState

        async with self.lock:
            for scope in scopes:
                self.committed[scope.id] = self.committed.get(scope.id, 0) + nanos
            hold_id = next(self.ids)
            self.live[hold_id] = (scopes, nanos)
            return hold_id, [RateState(limit_requests=10**6, remaining_requests=10**6 - 1)]

    async def settle(self, hold: Any, nanos: int, tokens: int) -> None:
        async with self.lock:
            scopes, held = self.live.pop(hold)
            for scope in scopes:
                self.committed[scope.id] += nanos - held

    async def release(self, hold: Any) -> None:
        await self.settle(hold, 0, 0)


class Policies:
    def __init__(self) -> None:
        from orchestra.governance.records import KeyPolicy, TeamPolicy

        big = Decimal("1000000")
        self.key = KeyPolicy(
            key_id="bench", team="t", budget_day_usd=big, budget_month_usd=big, rpm=10**6
        )
        self.team = TeamPolicy(team_id="t", budget_month_usd=big)

    async def get_key(self, key_id: str) -> Any:
        return self.key

    async def get_team(self, team_id: str) -> Any:
        return self.team


class Spend:
    async def add(self, row: Any) -> None:
        return None


class NoChecks:
    def check(self, texts: Any) -> list[Any]:
        return []


class NoRedaction:
    rules: list[str] = []

    def redact(self, text: str) -> tuple[str, list[str]]:
        return text, []

    def stream(self, lookbehind: int) -> NoRedaction:
        return self

    def feed(self, text: str) -> str:
        return text

    def flush(self) -> str:
        return ""


def _services(config: Path, case: str) -> Any:
    from orchestra.compose import build_services
    from orchestra.compose.core import memory_stores
    from orchestra.config import Settings
    from orchestra.governance.policies import Guards
    from orchestra.transport.http import HttpClients

    options: dict[str, Any] = {}
    settings: dict[str, Any] = {"config": str(config), "gc_tuning": False}
    if case != "off":
        stores = memory_stores()
        stores.policies, stores.ledger, stores.spend = Policies(), MemoryLedger(), Spend()  # type: ignore[assignment]
        options["stores"] = stores
    if case == "budgets+seam":
        options["guards"] = Guards(
            input_checks=lambda modes: NoChecks(),
            texts_of=lambda request: [(m.role, str(m.content)) for m in request.messages],
            redactor=NoRedaction(),
            audit=lambda *a: None,
        )
        settings.update(guardrail_injection="flag", guardrail_secrets="flag", redact_output=True)
    http = HttpClients.with_transport(httpx.MockTransport(_upstream))
    return build_services(Settings(**settings), {"BENCH_KEY": "sk-bench"}, http=http, **options)


async def _measure(services: Any, stream: bool, repeat: int) -> float:
    from orchestra.api.headers import routed_headers
    from orchestra.caller import Principal
    from orchestra.governance.admission import current_admission
    from orchestra.schemas.chat import ChatRequest

    gateway, governor, principal = services.gateway, services.governor, Principal("bench")
    body = {"model": "m1", "messages": [{"role": "user", "content": "Say hello"}]}
    requests = [ChatRequest.model_validate({**body, "stream": stream}) for _ in range(repeat)]
    started = time.process_time()
    for request in requests:
        if governor is not None:
            current_admission.set(await governor.admit(principal))
        if stream:
            handle = await gateway.open_stream(request)
            routed_headers(handle)
            async for _ in gateway.relay(handle):
                pass
        else:
            routed_headers(await gateway.generate(request))
    return (time.process_time() - started) / repeat * 1e6


async def _round(cases: dict[str, Any], repeat: int) -> dict[str, float]:
    out = {}
    for case, services in cases.items():
        for stream in (False, True):
            label = f"{case:13s} {'streamed' if stream else 'buffered'}"
            await _measure(services, stream, 50)  # warm
            out[label] = await _measure(services, stream, repeat)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        config = _config(Path(tmp))
        cases = {c: _services(config, c) for c in ("off", "budgets", "budgets+seam")}
        rounds = [asyncio.run(_round(cases, args.repeat)) for _ in range(args.rounds)]
    print("process CPU µs per generate request, upstream excluded: best round, median")
    best = {label: min(r[label] for r in rounds) for label in rounds[0]}
    for label in rounds[0]:
        median = statistics.median(r[label] for r in rounds)
        mode = label.split()[-1]
        added = best[label] - best[f"{'off':13s} {mode}"]
        print(f"  {label:24s} {best[label]:7.1f}  {median:7.1f}   added {added:+6.1f}")


if __name__ == "__main__":
    sys.exit(main())
