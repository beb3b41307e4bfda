"""Gateway overhead per request and throughput, measured with wrk (a real load tool).

Starts a fake OpenAI upstream (its own process, answering a recorded completion) and
``orchestra serve`` in front of it, then runs wrk against each:

* concurrency 1: latency percentiles; overhead = gateway minus calling the upstream directly;
* concurrency 32: requests per second through the gateway (and the upstream alone).

Usage: ``python bench/overhead.py [--seconds 10]``. Needs ``wrk`` on PATH
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


def start_stack(directory: Path) -> tuple[str, str, str, list[subprocess.Popen[bytes]]]:
    up_port, gw_port, floor_port = free_port(), free_port(), free_port()
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
    floor = spawn([str(Path(__file__).with_name("floor_app.py")), str(floor_port), up_url])
    floor_url = f"http://127.0.0.1:{floor_port}"
    wait_for(up_url + "/v1/chat/completions")
    wait_for(gw_url + "/health")
    wait_for(floor_url + "/health")
    return up_url, gw_url, floor_url, [upstream, gateway, floor]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed (apt-get install wrk)")
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        up_url, gw_url, floor_url, processes = start_stack(directory)
        try:
            report(up_url, gw_url, floor_url, directory, args.seconds)
        finally:
            for process in processes:
                process.terminate()
                process.wait(5)


def report(up_url: str, gw_url: str, floor_url: str, directory: Path, seconds: int) -> None:
    explicit = wrk_script(CHAT, directory)
    auto_dir = directory / "auto"
    auto_dir.mkdir()
    auto = wrk_script({**CHAT, "model": "auto"}, auto_dir)
    path = "/v1/chat/completions"
    run_wrk(gw_url + path, explicit, 4, 2)  # warm up both
    run_wrk(up_url + path, explicit, 4, 2)
    run_wrk(floor_url + path, explicit, 4, 2)
    direct1 = run_wrk(up_url + path, explicit, 1, seconds)
    floor1 = run_wrk(floor_url + path, explicit, 1, seconds)
    gw1 = run_wrk(gw_url + path, explicit, 1, seconds)
    auto1 = run_wrk(gw_url + path, auto, 1, seconds)
    direct32 = run_wrk(up_url + path, explicit, 32, seconds)
    floor32 = run_wrk(floor_url + path, explicit, 32, seconds)
    gw32 = run_wrk(gw_url + path, explicit, 32, seconds)
    print(f"wrk, {seconds}s per run, recorded OpenAI completion as the upstream answer")
    print(f"{'run':44s} {'p50 ms':>8s} {'p90 ms':>8s} {'p99 ms':>8s} {'req/s':>9s} {'non-2xx':>8s}")
    for name, r in [
        ("upstream direct, c=1", direct1),
        ("floor (FastAPI forward, same client), c=1", floor1),
        ("gateway, explicit model, c=1", gw1),
        ("gateway, model=auto (routed), c=1", auto1),
        ("upstream direct, c=32", direct32),
        ("floor (FastAPI forward, same client), c=32", floor32),
        ("gateway, explicit model, c=32", gw32),
    ]:
        print(
            f"{name:44s} {r.p50_ms:8.3f} {r.p90_ms:8.3f} {r.p99_ms:8.3f} {r.rps:9.0f} {r.errors:8d}"
        )
    print(f"overhead p50 (explicit): {gw1.p50_ms - direct1.p50_ms:.3f} ms")
    print(f"overhead p99 (explicit): {gw1.p99_ms - direct1.p99_ms:.3f} ms")
    print(f"overhead p50 (auto):     {auto1.p50_ms - direct1.p50_ms:.3f} ms")
    print(f"overhead p99 (auto):     {auto1.p99_ms - direct1.p99_ms:.3f} ms")
    print(f"throughput at c=32:      {gw32.rps:.0f} req/s through the gateway")
    floor_added = floor1.p50_ms - direct1.p50_ms
    gw_added = gw1.p50_ms - direct1.p50_ms
    print(f"floor adds p50 {floor_added:.3f} ms, serves {floor32.rps:.0f} req/s at c=32")
    print(
        f"gateway vs floor: {gw_added / floor_added:.2f}x the added latency, "
        f"{gw32.rps / floor32.rps:.2f}x the throughput (target: within 15%: <= 1.15x, >= 0.87x)"
    )


if __name__ == "__main__":
    main()
