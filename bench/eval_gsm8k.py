"""``orchestra eval`` on 50 GSM8K items with the simulator at its normal latencies (the
issue's target: under a minute), through the CLI's own code path, in-process.

Five strategies: ``sim-large``, ``sim-small``, ``sample(sim-medium, k=5)``, a vote panel of
the three models and a two-round debate of the three. Prints the wall time, pairs and items
per second, the upstream calls (strategies' and grading's), and each strategy's accuracy and
cost per item as the run recorded them (the simulator answers from the dataset's answers at
each model's accuracy: the figures measure the harness, not models).

    python bench/eval_gsm8k.py [--limit 50] [--concurrency 8] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

STRATEGIES = [
    "sim-large",
    "sim-small",
    "sample(sim-medium, k=5)",
    "panel(sim-large, sim-medium, sim-small, fusion=vote)",
    "debate(sim-large, sim-medium, sim-small, rounds=2)",
]


def _rows(out: Path) -> list[dict[str, Any]]:
    text = (out / "results.jsonl").read_text()
    return [json.loads(line) for line in text.splitlines()]


def _per_strategy(rows: list[dict[str, Any]]) -> None:
    by: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        by[row["strategy"]].append(row)
    for spec, answered in by.items():
        right = sum(bool(r["grade"] and r["grade"]["correct"]) for r in answered)
        cost = sum(r["outcome"]["cost_usd"] for r in answered) / len(answered)
        calls = sum(r["outcome"]["calls"] for r in answered) / len(answered)
        print(
            f"  {spec:55s} {right:3d}/{len(answered):<3d} right  "
            f"${cost:.5f}/item  {calls:4.1f} calls/item"
        )


def run(limit: int, concurrency: int, out: Path) -> dict[str, float]:
    os.environ["ORCHESTRA_SIMULATOR"] = "true"  # normal latencies: no latency scale set
    from orchestra.cli import main
    from orchestra.config import get_settings

    get_settings.cache_clear()
    args = ["eval", "--dataset", "gsm8k", "--limit", str(limit), "--out", str(out)]
    args += ["--concurrency", str(concurrency), "--fresh"]
    for spec in STRATEGIES:
        args += ["--strategy", spec]
    started = time.perf_counter()
    code = main(args)
    wall = time.perf_counter() - started
    rows = _rows(out)
    calls = sum(r["outcome"]["calls"] for r in rows)
    grading = sum(r["grade"]["calls"] for r in rows if r["grade"])
    print(f"exit {code}; {len(rows)} pairs ({limit} items x {len(STRATEGIES)} strategies)")
    print(f"wall {wall:.1f} s; {limit / wall:.2f} items/s; {len(rows) / wall:.1f} pairs/s")
    print(f"upstream calls: {calls} by the strategies, {grading} by grading")
    _per_strategy(rows)
    return {"wall_s": wall, "items_per_s": limit / wall, "calls": calls}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=50)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--keep", default=None, help="results directory to keep")
    args = parser.parse_args()
    if args.keep:
        figures = run(args.limit, args.concurrency, Path(args.keep))
    else:
        with tempfile.TemporaryDirectory() as tmp:
            figures = run(args.limit, args.concurrency, Path(tmp))
    target = "under a minute" if figures["wall_s"] < 60 else "OVER the one-minute target"
    print(f"{target}")
    return 0 if figures["wall_s"] < 60 else 1


if __name__ == "__main__":
    sys.exit(main())
