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

PROMPT = (
    "Summarise the release notes below for the support team, in three bullet points. "
    "Mention the breaking change first. "
) * 8


def _policies() -> Any:
    """A key with day and month budgets and rpm/tpm limits, in a team with a month budget."""
    from orchestra.governance.memory import MemoryPolicyStore
    from orchestra.governance.records import KeyPolicy, TeamPolicy

    big = Decimal("1000000")
    store = MemoryPolicyStore()
    key = KeyPolicy(
        key_id="bench", team="t", budget_day_usd=big, budget_month_usd=big, rpm=10**8, tpm=10**12
    )
    asyncio.run(store.put_team(TeamPolicy(team_id="t", budget_month_usd=big)))
    asyncio.run(store.put_key(key))
    return store


def _services(config: Path, case: str, stores: Any = None, upstream: Any = _upstream) -> Any:
    """``default``: the gateway as built by default (governed, in-memory stores) for a key
    with no policy; ``budgets``: the key's budgets and limits held and settled on the real
    ledger (in-memory backend: the DynamoDB round trips are network time, counted apart),
    a spend row per call; ``budgets+guardrails``: the same with the real guardrails on
    (injection and secrets flagged, message size checked, answers redacted, streams too)."""
    from orchestra.compose import build_services
    from orchestra.compose.core import memory_stores
    from orchestra.config import Settings
    from orchestra.transport.http import HttpClients

    settings: dict[str, Any] = {"config": str(config), "gc_tuning": False}
    if stores is None:
        stores = memory_stores()
        if case != "default":
            stores.policies = _policies()
    if case == "budgets+guardrails":
        settings.update(
            guardrail_injection="flag",
            guardrail_secrets="flag",
            guardrail_size="block",
            redact_output=True,
        )
    http = HttpClients.with_transport(httpx.MockTransport(upstream))
    return build_services(Settings(**settings), {"BENCH_KEY": "sk-bench"}, http=http, stores=stores)


async def _measure(services: Any, stream: bool, repeat: int) -> float:
    from orchestra.api.headers import routed_headers
    from orchestra.caller import Principal
    from orchestra.governance.admission import current_admission
    from orchestra.schemas.chat import ChatRequest

    gateway, governor, principal = services.gateway, services.governor, Principal("bench")
    body = {"model": "m1", "messages": [{"role": "user", "content": PROMPT}]}
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
            label = f"{case:18s} {'streamed' if stream else 'buffered'}"
            await _measure(services, stream, 50)  # warm
            out[label] = await _measure(services, stream, repeat)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--round-trips", type=int, default=20, help="requests counted under moto (0: skip)"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        config = _config(Path(tmp))
        cases = {c: _services(config, c) for c in ("default", "budgets", "budgets+guardrails")}
        rounds = [asyncio.run(_round(cases, args.repeat)) for _ in range(args.rounds)]
    print("process CPU µs per generate request, upstream excluded: best round, median")
    best = {label: min(r[label] for r in rounds) for label in rounds[0]}
    for label in rounds[0]:
        median = statistics.median(r[label] for r in rounds)
        mode = label.split()[-1]
        added = best[label] - best[f"{'default':18s} {mode}"]
        print(f"  {label:29s} {best[label]:7.1f}  {median:7.1f}   added {added:+6.1f}")
    if args.round_trips:
        round_trips(args.round_trips)


def round_trips(requests: int) -> None:
    """DynamoDB calls per request with budgets and limits on DynamoDB (moto, in process):
    how many before the upstream call (on the path to the first token) and after."""
    import boto3
    from moto import mock_aws

    from orchestra.compose.core import memory_stores
    from orchestra.governance.ledger import Ledger, Scope
    from orchestra.storage.governance import DynamoDBLedgerBackend, DynamoDBPolicyStore
    from orchestra.storage.spend import DynamoDBSpendBackend
    from orchestra.storage.tables import create_tables

    calls: list[str] = []
    seen_at_upstream: list[int] = []

    def count(event_name: str, **_: Any) -> None:
        calls.append(event_name.rsplit(".", 1)[-1])

    def upstream(request: httpx.Request) -> httpx.Response:
        seen_at_upstream.append(len(calls))
        return _upstream(request)

    with mock_aws(), tempfile.TemporaryDirectory() as tmp:
        client = boto3.client("dynamodb", region_name="us-east-1")
        create_tables(client, {"governance": "gov", "metrics": "met"})
        client.meta.events.register("before-call.dynamodb.*", count)
        stores = memory_stores()
        stores.policies = DynamoDBPolicyStore("gov", client)
        for policy in asyncio.run(_policies().list_keys()):
            asyncio.run(stores.policies.put_key(policy))
        for team in asyncio.run(_policies().list_teams()):
            asyncio.run(stores.policies.put_team(team))
        stores.ledger = Ledger(DynamoDBLedgerBackend("gov", client))
        stores.ledger_scope = Scope
        stores.spend = DynamoDBSpendBackend("met", client)
        services = _services(_config(Path(tmp)), "budgets+guardrails", stores, upstream)
        before = len(calls)
        asyncio.run(_measure(services, False, requests))
    per = (len(calls) - before) / requests
    # calls made between the previous request's upstream call and this one's: the
    # previous request's settle + spend row, then this request's hold
    gaps = [b - a for a, b in itertools.pairwise(seen_at_upstream)]
    print(f"DynamoDB calls per request (key + team metered, {requests} requests): {per:.2f}")
    print(f"  by operation: { {op: calls.count(op) for op in sorted(set(calls))} }")
    print(f"  calls between two requests' upstream calls (settle + spend, then hold): {gaps[-1]}")


if __name__ == "__main__":
    sys.exit(main())
