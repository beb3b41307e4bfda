"""Time to first byte added by the deployed streaming path (issue: under 5 ms).

The real entry point (``functions/stream_runtime`` -> ``orchestra.aws_lambda.runtime_api``) runs in a
subprocess against the local API Gateway (STREAM) + Runtime API emulation the tests use
(``tests/support/lambda_emulator.py``), in front of a fake OpenAI upstream on 127.0.0.1 whose
first token comes after 20 ms. Two figures per request, on a warm execution environment:

* **function added**: from ``invocation/next`` handing the event over to the function's first
  byte reaching the Runtime API (what Lambda forwards to API Gateway), minus the upstream's own
  time from receiving the call to writing its first event: everything Orchestra adds before
  the first byte (event translation, validation, routing, breaker, the upstream call, SSE
  relay, the runtime client). Clocks: ``time.monotonic`` everywhere (CLOCK_MONOTONIC, one
  clock for every process on the host).
* **end to end added**: a client's time to first byte through the emulated API Gateway minus
  its time to first byte calling the upstream directly (includes the emulator's own hop,
  which stands in for API Gateway: an upper bound).

Usage: ``python bench/stream_ttfb.py [--requests 200]``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "tests" / "integration"))

from test_streaming_runtime import (  # noqa: E402
    HANDLER,
    chat,
    openai_stream,
    provider_config,
    runtime_env,
    sse,
)

from support.lambda_emulator import emulated  # noqa: E402
from support.upstream import FakeUpstream, running_in_thread  # noqa: E402

FIRST_TOKEN_S = 0.02


def ttfb(client: httpx.Client, url: str, body: dict[str, object], headers: dict[str, str]) -> float:
    """Milliseconds to the first body bytes; the rest is read too (the upstream finishes)."""
    started, first = time.monotonic(), None
    with client.stream("POST", url, json=body, headers=headers) as response:
        for _ in response.iter_raw():
            first = first or (time.monotonic() - started) * 1000
    if first is None:
        raise RuntimeError("no body")
    return first


def figures(values: list[float]) -> str:
    ordered = sorted(values)
    pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))]  # noqa: E731
    return (
        f"p50 {pick(0.5):6.2f} ms  p90 {pick(0.9):6.2f} ms  p99 {pick(0.99):6.2f} ms  "
        f"mean {statistics.fmean(values):6.2f} ms"
    )


def cold_starts(runs: int) -> None:
    """Spawn -> first byte of the first answer, each in a new execution environment (the
    simulator at zero latency, tracing on as deployed, as ``bench/cold_import.py`` does)."""
    env = {
        "ORCHESTRA_MODE": "local",
        "ORCHESTRA_SIMULATOR": "true",
        "ORCHESTRA_SIMULATOR_LATENCY_SCALE": "0",
        "ORCHESTRA_TRUST_GATEWAY_AUTH": "true",
        "POWERTOOLS_SERVICE_NAME": "orchestra-generate",
        "POWERTOOLS_METRICS_NAMESPACE": "Orchestra",
    }
    body = {"model": "auto", "messages": [{"role": "user", "content": "hi"}], "stream": True}
    interpreter = []
    for _ in range(runs):
        started = time.monotonic()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        interpreter.append((time.monotonic() - started) * 1000)
    cold = []
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(runs):
            with emulated() as emulator, httpx.Client(timeout=30) as client:
                emulator.spawn(env, HANDLER, Path(tmp) / "function.log")
                # sent at once: it waits in the queue until the new runtime asks for work
                cold.append(ttfb(client, f"{emulator.front_url}/v1/chat/completions", body, {}))
    print(f"streaming runtime cold start, {runs} new environments (spawn -> first byte):")
    print(f"  {figures(cold)}")
    print(f"  python -c pass (the interpreter alone): {figures(interpreter)}")
    print(
        f"  above the interpreter: p50 {statistics.median(cold) - statistics.median(interpreter):.1f} ms"
        " (compare bench/cold_import.py's 'cold start to first response')"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--cold", type=int, default=0, help="also time N cold starts")
    args = parser.parse_args()
    if args.cold:
        cold_starts(args.cold)
    with tempfile.TemporaryDirectory() as tmp, running_in_thread(FakeUpstream()) as upstream:
        upstream.default = sse(openai_stream(5), delay=FIRST_TOKEN_S)
        with emulated() as emulator, httpx.Client(timeout=30) as client:
            env = runtime_env(provider_config(Path(tmp), upstream.base_url))
            emulator.spawn(env, HANDLER, Path(tmp) / "function.log")
            front = f"{emulator.front_url}/v1/chat/completions"
            direct = f"{upstream.base_url}/v1/chat/completions"
            upstream_body = {"model": "reasoner", "stream": True, "messages": []}
            for _ in range(20):  # warm: the first invocation builds the app
                ttfb(client, front, chat(), {})
            function_added, relay, through, alone = [], [], [], []
            for _ in range(args.requests):
                upstream.sent_at.clear()
                upstream.received_at.clear()
                through.append(ttfb(client, front, chat(), {}))
                invocation = list(emulator.invocations.values())[-1]
                assert invocation.first_bytes_at is not None and invocation.handed_at is not None
                in_function = invocation.first_bytes_at - invocation.handed_at
                upstream_own = upstream.sent_at[0] - upstream.received_at[0]
                function_added.append((in_function - upstream_own) * 1000)
                relay.append((invocation.first_bytes_at - upstream.sent_at[0]) * 1000)
                alone.append(ttfb(client, direct, upstream_body, {"authorization": "Bearer x"}))
    added = [t - a for t, a in zip(through, alone, strict=True)]
    print(
        f"streaming TTFB, {args.requests} requests, upstream first token after "
        f"{FIRST_TOKEN_S * 1000:.0f} ms, warm environment"
    )
    print(
        f"  function added (event handed over -> first byte posted, minus the upstream's "
        f"own time to first event): {figures(function_added)}"
    )
    print(f"    of which the relay (upstream first event -> first byte posted): {figures(relay)}")
    print(f"  client TTFB through emulated API Gateway:  {figures(through)}")
    print(f"  client TTFB calling the upstream directly: {figures(alone)}")
    print(f"  end to end added (incl. the emulator's hop): {figures(added)}")
    print(
        json.dumps(
            {
                "function_added_p50_ms": round(sorted(function_added)[len(added) // 2], 3),
                "end_to_end_added_p50_ms": round(sorted(added)[len(added) // 2], 3),
            }
        )
    )


if __name__ == "__main__":
    main()
