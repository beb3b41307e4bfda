"""CPU of the ledger's own work per upstream call: one hold and one settle.

Runs against the in-memory backend, so what is timed is the ledger (limits, windows,
conditions, the hold record, rate states, headers) and one event-loop yield per backend
operation, not a network. Also prints the backend round trips per hold and per settle.
With DynamoDB each round trip is one UpdateItem (tests/unit/storage/test_governance_ledger.py
counts them on the wire).

Usage: ``python bench/ledger_cpu.py [--repeat 5000] [--rounds 5]``; figures in µs, the
median of the rounds (each round's mean per hold+settle).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from decimal import Decimal

from orchestra.governance.ledger import Ledger, Scope, rate_headers
from orchestra.governance.memory import MemoryLedgerBackend
from orchestra.governance.records import Limits

KEY = Scope(
    "key",
    "ci-bot",
    Limits(budget_day_usd=Decimal("1e6"), budget_month_usd=Decimal("1e7"), rpm=10**9, tpm=10**12),
)
TEAM = Scope("team", "search", Limits(budget_month_usd=Decimal("1e8")))
UNMETERED = Scope("key", "free", Limits())


async def _round(ledger: Ledger, scopes: list[Scope], repeat: int) -> float:
    start = time.process_time()
    for _ in range(repeat):
        hold, states = await ledger.hold(scopes, 1_234_567, 900, count_request=True)
        rate_headers(states)
        await ledger.settle(hold, 734_567, 700)
    return (time.process_time() - start) / repeat * 1e6


async def measure(scopes: list[Scope], repeat: int, rounds: int) -> tuple[float, float, float]:
    backend = MemoryLedgerBackend()
    ledger = Ledger(backend)
    await _round(ledger, scopes, 200)  # warm caches (limits, periods)
    calls = backend.calls
    figures = [await _round(ledger, scopes, repeat) for _ in range(rounds)]
    per_cycle = (backend.calls - calls) / (repeat * rounds)
    return statistics.median(figures), per_cycle / 2, per_cycle / 2


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    print(f"{'scopes':<28} {'µs CPU hold+settle':>19} {'trips/hold':>11} {'trips/settle':>13}")
    for name, scopes in (
        ("unmetered key", [UNMETERED]),
        ("key (day, month, rpm, tpm)", [KEY]),
        ("key + team", [KEY, TEAM]),
    ):
        cpu, hold_trips, settle_trips = asyncio.run(measure(scopes, args.repeat, args.rounds))
        print(f"{name:<28} {cpu:>19.1f} {hold_trips:>11.0f} {settle_trips:>13.0f}")


if __name__ == "__main__":
    main()
