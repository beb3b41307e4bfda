"""A 10,000-line batch through the local runner (``orchestra serve``'s path) with the
simulator: wall time, lines per second, and peak memory.

Two runs of the same batch: one timed (no tracing), one under ``tracemalloc`` for the peak
of Python allocations during the batch (upload included); ``ru_maxrss`` is the process's
resident peak at the end. The simulator answers at once (``--latency-scale 0``) so the figure
is the gateway's own cost per line (routing, admission, output lines, blobs); with latency,
the bound is ``batch_concurrency`` chunks x ``batch_concurrency`` lines in flight.

    PYTHONPATH=src python bench/batch_local.py [--lines 10000] [--chunk-lines 100]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import sys
import time
import tracemalloc
from typing import Any

from orchestra.compose import build_services
from orchestra.config import Settings
from orchestra.schemas.batch import CreateBatch


def batch_file(lines: int) -> bytes:
    rows = (
        {
            "custom_id": f"req-{i}",
            "method": "POST",
            "url": "/v1/chat/completions",
            "body": {
                "model": "sim-small",
                "messages": [{"role": "user", "content": f"Summarise item {i} in one line."}],
                "max_tokens": 32,
            },
        }
        for i in range(lines)
    )
    return b"".join(json.dumps(r).encode() + b"\n" for r in rows)


async def run_batch(lines: int, chunk_lines: int, concurrency: int, scale: float) -> dict[str, Any]:
    settings = Settings(
        simulator_latency_scale=scale, batch_chunk_lines=chunk_lines, batch_concurrency=concurrency
    )
    services = build_services(settings, {})
    assert services.files is not None and services.batches is not None
    data = batch_file(lines)
    started = time.perf_counter()
    upload = await services.files.create(data, "bench.jsonl", "batch")
    uploaded = time.perf_counter()
    request = CreateBatch(
        input_file_id=upload.id, endpoint="/v1/chat/completions", completion_window="24h"
    )
    batch = await services.batches.create(request)
    runner = services.batches.starter
    while runner._running:  # type: ignore[attr-defined]
        await asyncio.wait(set(runner._running))  # type: ignore[attr-defined]
    done = await services.batches.retrieve(batch.id)
    finished = time.perf_counter()
    output = await services.files.content(done.output_file_id) if done.output_file_id else b""
    await services.aclose()
    return {
        "status": done.status,
        "counts": done.request_counts.model_dump(),
        "file_mb": len(data) / 1e6,
        "output_mb": len(output) / 1e6,
        "validate_s": uploaded - started,
        "wall_s": finished - started,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=10_000)
    parser.add_argument("--chunk-lines", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--latency-scale", type=float, default=0.0)
    args = parser.parse_args(argv)
    options = (args.lines, args.chunk_lines, args.concurrency, args.latency_scale)
    timed = asyncio.run(run_batch(*options))
    tracemalloc.start()
    traced = asyncio.run(run_batch(*options))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    maxrss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if sys.platform == "darwin":
        maxrss_kb //= 1024
    print(
        f"batch of {args.lines} lines, {args.chunk_lines} per chunk, {args.concurrency} chunks at once"
    )
    print(f"  status {timed['status']}, counts {timed['counts']} (traced run: {traced['status']})")
    print(f"  input {timed['file_mb']:.2f} MB, output {timed['output_mb']:.2f} MB")
    print(
        f"  upload validation {timed['validate_s']:.2f} s, wall (upload to completed) {timed['wall_s']:.2f} s"
    )
    print(f"  {args.lines / timed['wall_s']:.0f} lines/s")
    print(f"  tracemalloc peak {peak / 1e6:.1f} MB, ru_maxrss {maxrss_kb / 1024:.1f} MB")


if __name__ == "__main__":
    main()
