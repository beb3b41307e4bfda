"""Gateway overhead per request and throughput, measured with wrk (a real load tool).

Starts a fake OpenAI upstream (its own process, answering a recorded completion) and
``orchestra serve`` in front of it, then runs wrk against each:

* concurrency 1: latency percentiles; overhead = gateway minus calling the upstream directly;
* concurrency 32: requests per second through the gateway (and the upstream alone).

Usage: ``python bench/overhead.py [--seconds 5]`` (three interleaved rounds). Needs ``wrk`` on PATH
(``apt-get install wrk``).
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import BASIC_BODY, CHAT, free_port, spawn, wait_for

UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


@dataclass
class WrkResult:
    p50_ms: float
    p90_ms: float
    p99_ms: float
    rps: float
    errors: int


def wrk_script(body: dict[str, object], directory: Path) -> Path:
    script = directory / "post.lua"
    script.write_text(
        'wrk.method = "POST"\n'
        f"wrk.body = {json.dumps(json.dumps(body))}\n"
        'wrk.headers["Content-Type"] = "application/json"\n'
    )
    return script


ROUNDS = 3


def median_run(results: list[WrkResult]) -> WrkResult:
    return sorted(results, key=lambda r: r.rps)[len(results) // 2]


def run_wrk(url: str, script: Path, connections: int, seconds: int) -> WrkResult:
    threads = min(connections, 2)
    out = subprocess.run(
        [
            "wrk",
            f"-t{threads}",
            f"-c{connections}",
            f"-d{seconds}s",
            "--latency",
            "-s",
            str(script),
            url,
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    latency = {
        pct: float(value) * UNITS[unit]
        for pct, value, unit in re.findall(r"^\s+(50|90|99)%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
    }
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    errors = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    return WrkResult(
        latency["50"], latency["90"], latency["99"], rps, int(errors.group(1)) if errors else 0
    )


def start_stack(directory: Path) -> tuple[Stack, list[subprocess.Popen[bytes]]]:
    up_port, gw_port, floor_port, direct_port = free_port(), free_port(), free_port(), free_port()
    upstream = spawn(
        [str(Path(__file__).with_name("upstream_server.py")), str(up_port), str(BASIC_BODY)]
    )
    config = directory / "orchestra.yaml"
    config.write_text(
        "providers:\n"
        "  - name: upstream\n    type: openai\n"
        f"    base_url: http://127.0.0.1:{up_port}/v1\n"
        "    models:\n      - id: gpt-4o-mini\n        context_window: 128000\n"
        "        input_price: 1.5e-7\n        output_price: 6.0e-7\n        quality: 1270\n"
    )
    gateway = spawn(
        ["-m", "orchestra.cli", "serve", "--port", str(gw_port)],
        env={"ORCHESTRA_CONFIG": str(config), "ORCHESTRA_LOG_LEVEL": "WARNING"},
    )
    up_url, gw_url = f"http://127.0.0.1:{up_port}", f"http://127.0.0.1:{gw_port}"
    floor_app = str(Path(__file__).with_name("floor_app.py"))
    floor = spawn([floor_app, str(floor_port), up_url, "post"])
    direct = spawn([floor_app, str(direct_port), up_url, "direct"])
    floor_url = f"http://127.0.0.1:{floor_port}"
    direct_url = f"http://127.0.0.1:{direct_port}"
    wait_for(up_url + "/v1/chat/completions")
    for url in (gw_url, floor_url, direct_url):
        wait_for(url + "/health")
    return Stack(up_url, gw_url, floor_url, direct_url), [upstream, gateway, floor, direct]


@dataclass
class Stack:
    upstream: str
    gateway: str
    floor: str
    direct_floor: str


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=5, help="per run, per round")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed (apt-get install wrk)")
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        stack, processes = start_stack(directory)
        try:
            report(stack, directory, args.seconds)
        finally:
            for process in processes:
                process.terminate()
                process.wait(5)


def report(stack: Stack, directory: Path, seconds: int) -> None:
    explicit = wrk_script(CHAT, directory)
    auto_dir = directory / "auto"
    auto_dir.mkdir()
    auto = wrk_script({**CHAT, "model": "auto"}, auto_dir)
    path = "/v1/chat/completions"
    for url in (stack.gateway, stack.upstream, stack.floor, stack.direct_floor):
        run_wrk(url + path, explicit, 4, 2)  # warm up
    runs = {
        "upstream direct, c=1": (stack.upstream, explicit, 1),
        "floor (FastAPI forward, client.post), c=1": (stack.floor, explicit, 1),
        "floor, direct send, c=1": (stack.direct_floor, explicit, 1),
        "gateway, explicit model, c=1": (stack.gateway, explicit, 1),
        "gateway, model=auto (routed), c=1": (stack.gateway, auto, 1),
        "upstream direct, c=32": (stack.upstream, explicit, 32),
        "floor (FastAPI forward, client.post), c=32": (stack.floor, explicit, 32),
        "floor, direct send, c=32": (stack.direct_floor, explicit, 32),
        "gateway, explicit model, c=32": (stack.gateway, explicit, 32),
    }
    # rounds interleave every run, so a machine that slows down mid-bench slows all alike;
    # each figure is the round with the median throughput
    rounds: dict[str, list[WrkResult]] = {name: [] for name in runs}
    for _ in range(ROUNDS):
        for name, (url, script, c) in runs.items():
            rounds[name].append(run_wrk(url + path, script, c, seconds))
    results = {name: median_run(found) for name, found in rounds.items()}
    print(
        f"wrk, {ROUNDS} interleaved rounds of {seconds}s per run (median round), "
        "recorded OpenAI completion as the upstream answer"
    )
    print(f"{'run':44s} {'p50 ms':>8s} {'p90 ms':>8s} {'p99 ms':>8s} {'req/s':>9s} {'non-2xx':>8s}")
    for name, r in results.items():
        print(
            f"{name:44s} {r.p50_ms:8.3f} {r.p90_ms:8.3f} {r.p99_ms:8.3f} {r.rps:9.0f} {r.errors:8d}"
        )
    direct1 = results["upstream direct, c=1"]
    gw1, auto1 = (
        results["gateway, explicit model, c=1"],
        results["gateway, model=auto (routed), c=1"],
    )
    gw32 = results["gateway, explicit model, c=32"]
    print(f"overhead p50 (explicit): {gw1.p50_ms - direct1.p50_ms:.3f} ms")
    print(f"overhead p99 (explicit): {gw1.p99_ms - direct1.p99_ms:.3f} ms")
    print(f"overhead p50 (auto):     {auto1.p50_ms - direct1.p50_ms:.3f} ms")
    print(f"overhead p99 (auto):     {auto1.p99_ms - direct1.p99_ms:.3f} ms")
    print(f"throughput at c=32:      {gw32.rps:.0f} req/s through the gateway")
    for label, prefix in (
        ("client.post", "floor (FastAPI forward, client.post)"),
        ("direct send", "floor, direct send"),
    ):
        floor1, floor32 = results[f"{prefix}, c=1"], results[f"{prefix}, c=32"]
        floor_added = floor1.p50_ms - direct1.p50_ms
        gw_added = gw1.p50_ms - direct1.p50_ms
        print(
            f"vs the floor ({label}): it adds p50 {floor_added:.3f} ms and serves "
            f"{floor32.rps:.0f} req/s; the gateway is at {gw_added / floor_added:.2f}x the added "
            f"latency and {gw32.rps / floor32.rps:.2f}x the throughput"
        )
    print("target (issue 15, against the client.post floor): <= 1.15x latency, >= 0.87x throughput")


if __name__ == "__main__":
    main()
