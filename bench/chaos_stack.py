"""The chaos bench's processes: its upstreams and ``orchestra serve`` with a generated config.

bench/chaos.py drives them; this module only starts, describes and stops them.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from chaos_upstream import PROFILES
from common import free_port, wait_for

#: the model every upstream serves (one id: one model with three deployments once the
#: gateway has deployments, three catalog entries before)
MODEL = "chaos-1"
UPSTREAM_KEY_ENV = "CHAOS_UPSTREAM_KEY"


def client_key(number: int) -> str:
    return f"chaos-client-{number}"


@dataclass
class Stack:
    """The upstream process and the gateway process, and where to reach them."""

    gateway: str
    upstreams: dict[str, str]
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    log: Path | None = None

    def stop(self) -> None:
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            try:
                process.wait(5)
            except subprocess.TimeoutExpired:
                process.kill()

    def upstream_stats(self) -> dict[str, Counter[str]]:
        return {
            name: Counter(httpx.get(url + "/stats", timeout=5.0).json())
            for name, url in self.upstreams.items()
        }


def config_yaml(ports: dict[str, int]) -> str:
    """orchestra.yaml: one openai-type provider per upstream, each serving ``chaos-1``."""
    lines = ["providers:"]
    for name, port in ports.items():
        lines += [
            f"  - name: chaos-{name}",
            "    type: openai",
            f"    base_url: http://127.0.0.1:{port}/v1",
            f"    api_key_env: {UPSTREAM_KEY_ENV}",
            "    allow_private: true",
            "    models:",
            f"      - id: {MODEL}",
            "        context_window: 128000",
            "        input_price: 1.0e-7",
            "        output_price: 4.0e-7",
            "        latency_ms: 50",
        ]
    return "\n".join(lines) + "\n"


def gateway_env(config: Path, args: argparse.Namespace) -> dict[str, str]:
    """The environment of ``orchestra serve``: ours without any ORCHESTRA_* setting or
    provider key (so nothing but the generated config is served), plus the bench's."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("ORCHESTRA_") and not k.endswith("_API_KEY")
    }
    env |= {
        "PYTHONPATH": str(args.src / "src"),
        "ORCHESTRA_CONFIG": str(config),
        "ORCHESTRA_API_KEYS": ",".join(client_key(n) for n in range(args.client_keys)),
        "ORCHESTRA_LOG_LEVEL": "WARNING",
        UPSTREAM_KEY_ENV: "chaos-upstream-key",
    }
    if args.deadline:
        env["ORCHESTRA_REQUEST_DEADLINE_S"] = str(args.deadline)
    extra: dict[str, str] = args.gateway_env
    return env | extra


def start_stack(directory: Path, args: argparse.Namespace) -> Stack:
    ports = {name: free_port() for name in PROFILES}
    here = Path(__file__).resolve().parent
    upstream = subprocess.Popen(
        [sys.executable, str(here / "chaos_upstream.py"), "--seed", str(args.seed)]
        + [str(p) for p in ports.values()],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    config = directory / "orchestra.yaml"
    config.write_text(config_yaml(ports))
    log = directory / "gateway.log"
    gw_port = free_port()
    with log.open("wb") as sink:
        gateway = subprocess.Popen(
            [sys.executable, "-m", "orchestra.cli", "serve", "--port", str(gw_port)],
            env=gateway_env(config, args),
            cwd=directory,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    stack = Stack(
        f"http://127.0.0.1:{gw_port}",
        {name: f"http://127.0.0.1:{port}" for name, port in ports.items()},
        [upstream, gateway],
        log,
    )
    try:
        for url in stack.upstreams.values():
            wait_for(url + "/stats")
        wait_for(stack.gateway + "/health", timeout=60.0)
    except RuntimeError:
        stack.stop()
        sys.exit(f"the stack did not come up; gateway log:\n{log.read_text()[-3000:]}")
    return stack
