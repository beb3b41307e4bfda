"""Routing decision time over a 1,000-model catalog (the pure CPU part of every request).

Times ``Router.plan`` for each profile on a simple and a complex prompt, with observed
latencies for every model, after the per-catalog index is built once (as in a warm
process). Also reports the one-off index build. Figures in microseconds.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import summary
from orchestra.catalog.models import Catalog, ModelInfo
from orchestra.routing.router import Router
from orchestra.schemas.chat import ChatRequest

PROVIDERS = [
    "openai",
    "anthropic",
    "gemini",
    "openrouter",
    "groq",
    "together",
    "mistral",
    "bedrock",
]
PROMPTS = {
    "simple": "What is the capital of France?",
    "complex": (
        "Prove that the sum of the first n odd numbers is n squared, then write a Python "
        "function that verifies it for n up to 10**6 and analyse its complexity step by step."
    ),
}


def synthetic_catalog(size: int, seed: int = 1) -> Catalog:
    rng = random.Random(seed)
    models = []
    for i in range(size):
        price = rng.choice([1e-7, 5e-7, 1e-6, 3e-6, 1e-5, 3e-5])
        models.append(
            ModelInfo(
                id=f"{PROVIDERS[i % len(PROVIDERS)]}/model-{i:04d}",
                context_window=rng.choice([8_192, 32_768, 128_000, 200_000, 1_000_000]),
                input_price=price,
                output_price=price * rng.choice([2, 4, 5]),
                quality=rng.uniform(1000, 1450),
                latency_ms=rng.uniform(150, 3000),
                tokens_per_s=rng.uniform(20, 400),
                capabilities=frozenset(rng.sample(["tools", "vision", "json", "streaming"], 3)),
            )
        )
    return Catalog(models)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=1000)
    parser.add_argument("--iterations", type=int, default=3000)
    args = parser.parse_args()
    catalog = synthetic_catalog(args.models)
    router = Router(set(PROVIDERS), max_candidates=4)
    observed = {m.id: m.latency_ms * 1.1 for m in catalog}
    started = time.perf_counter()
    router.plan(_request("simple", "auto"), catalog, observed_ms=observed.get)
    print(
        f"catalog of {len(catalog)} models; index build (once per catalog): "
        f"{(time.perf_counter() - started) * 1e3:.1f} ms"
    )
    print(f"Router.plan in microseconds over {args.iterations} decisions each:")
    for profile in ["quality", "balanced", "speed", "budget", "long_context"]:
        for kind in PROMPTS:
            request = _request(kind, f"auto:{profile}")
            times = []
            for _ in range(args.iterations):
                t = time.perf_counter_ns()
                router.plan(request, catalog, observed_ms=observed.get)
                times.append((time.perf_counter_ns() - t) / 1e3)
            print(f"  {profile:12s} {kind:8s} {summary(times)}")


def _request(kind: str, model: str) -> ChatRequest:
    return ChatRequest(model=model, messages=[{"role": "user", "content": PROMPTS[kind]}])


if __name__ == "__main__":
    main()
