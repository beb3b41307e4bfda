"""Multi-generate fan-out overhead: how much a 5-model fan-out adds beyond its slowest upstream.

Starts a fake OpenAI upstream (its own process; a model named ``fan-d<ms>`` answers its
recorded stream after that many ms) and ``orchestra serve`` in front of it, then, one request
at a time:

* calls the slowest upstream model directly (the floor a fan-out cannot beat);
* asks the gateway for a 5-model multi-generate (vote), and the same with ``quorum: 3``
  (floor: the third-fastest model) and with ``first`` (floor: the fastest);
* prints the gateway latency, the floor and the difference (the fan-out overhead: routing,
  five concurrent upstream calls, stream collection, fusion, JSON), p50 and p90.

Usage: ``python bench/fanout.py [--requests 60]``. Target: overhead p50 under 15 ms.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import BASIC_BODY, FIXTURES, free_port, percentile, spawn, wait_for

DELAYS_MS = (40, 60, 80, 100, 120)
MODELS = [f"fan/fan-d{ms}" for ms in DELAYS_MS]
SSE = FIXTURES / "openai" / "chat_completion_stream_include_usage.sse"
QUESTION = [{"role": "user", "content": "What is 17 * 23?"}]


def providers_file(directory: Path, port: int) -> Path:
    models = "".join(
        f"      - id: fan-d{ms}\n        context_window: 128000\n"
        f"        input_price: 1.0e-6\n        output_price: 2.0e-6\n        quality: {1250 + ms}\n"
        for ms in DELAYS_MS
    )
    path = directory / "orchestra.yaml"
    path.write_text(
        "providers:\n  - name: fan\n    type: openai\n"
        f"    base_url: http://127.0.0.1:{port}/v1\n    models:\n{models}"
    )
    return path


def timed(client: httpx.Client, url: str, body: dict[str, object], runs: int) -> list[float]:
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        response = client.post(url, json=body)
        response.read()
        samples.append((time.perf_counter() - started) * 1000.0)
        assert response.status_code == 200, response.text
    return samples


def direct(client: httpx.Client, up: str, model: str, runs: int) -> list[float]:
    body = {"model": model, "messages": QUESTION, "stream": True}
    return timed(client, up + "/v1/chat/completions", body, runs)


def report(up: str, gw: str, runs: int) -> None:
    url = gw + "/v1/multi-generate"
    cases = [
        ("vote, 5 models", {"models": MODELS}, "fan-d120"),
        ("vote, 5 models, quorum 3", {"models": MODELS, "quorum": 3}, "fan-d80"),
        ("first, 5 models", {"models": MODELS, "strategy": "first"}, "fan-d40"),
    ]
    with httpx.Client(timeout=30) as client:
        for _, options, floor in cases:  # warm up: connections, imports, caches
            timed(client, url, {"messages": QUESTION, **options}, 5)
            direct(client, up, floor, 5)
        print(
            f"fan-out over {len(MODELS)} upstream models answering after {DELAYS_MS} ms; "
            f"{runs} sequential requests each"
        )
        print(
            f"{'case':28s} {'floor':>9s} {'gateway p50':>12s} {'p90':>7s} "
            f"{'overhead p50':>13s} {'p90':>7s}"
        )
        for name, options, floor in cases:
            floor_ms = direct(client, up, floor, runs)
            gateway_ms = timed(client, url, {"messages": QUESTION, **options}, runs)
            p50 = percentile(gateway_ms, 50) - percentile(floor_ms, 50)
            p90 = percentile(gateway_ms, 90) - percentile(floor_ms, 90)
            print(f"{name:28s} {floor:>9s} {percentile(gateway_ms, 50):10.1f}ms "
                  f"{percentile(gateway_ms, 90):6.1f} {p50:11.1f}ms {p90:6.1f}")  # fmt: skip


def fusion_cpu(rounds: int = 200) -> None:
    """CPU of normalising, clustering and voting over 5 answers (short and 2 KB long)."""
    from orchestra.catalog.models import ModelInfo
    from orchestra.fusion.strategies import Answer, clustering_of, vote

    def model(i: int) -> ModelInfo:
        return ModelInfo(
            id=f"m{i}/x", context_window=8000, input_price=0, output_price=0, quality=1300
        )

    prose = "The queue absorbs bursts, retries failures and isolates the services. " * 28
    for label, texts in [
        ("short answers", ["The answer is 42.", "42", "**42**", "forty-two", "41"]),
        ("2 KB answers", [prose + str(i % 2) for i in range(5)]),
    ]:
        started = time.perf_counter()
        for _ in range(rounds):
            answers = [Answer.of(model(i), text) for i, text in enumerate(texts)]
            vote(answers, clustering_of(answers))
        per = (time.perf_counter() - started) / rounds * 1e6
        print(f"fusion CPU (normalise + cluster + vote), 5 {label}: {per:7.0f} us")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=60)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        up_port, gw_port = free_port(), free_port()
        upstream = spawn(
            [
                str(Path(__file__).with_name("upstream_server.py")),
                str(up_port),
                str(BASIC_BODY),
                str(SSE),
            ]
        )
        gateway = spawn(
            ["-m", "orchestra.cli", "serve", "--port", str(gw_port)],
            env={
                "ORCHESTRA_CONFIG": str(providers_file(Path(tmp), up_port)),
                "ORCHESTRA_LOG_LEVEL": "WARNING",
            },
        )
        up, gw = f"http://127.0.0.1:{up_port}", f"http://127.0.0.1:{gw_port}"
        try:
            wait_for(up + "/v1/chat/completions")
            wait_for(gw + "/health")
            report(up, gw, args.requests)
            fusion_cpu()
        finally:
            for process in (upstream, gateway):
                process.terminate()
                process.wait(5)


if __name__ == "__main__":
    main()
