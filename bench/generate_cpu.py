"""In-process CPU of one generate request, upstream excluded: what the gateway's own work
costs (plan, balance, attempt bookkeeping, budgets, hedge timer, parse, account).

Builds the services as ``orchestra serve`` does, with the upstream answered in-process by an
``httpx.MockTransport`` (a recorded chat completion, or its stream), and times
``Generate.generate`` / ``open_stream`` + ``relay`` on one event loop. Three OpenAI-compatible
providers serve model ``m1``: named bare it is one model with three deployments (where the
checkout groups deployments), named ``p1/m1`` one deployment. Run it on two checkouts to
compare (``PYTHONPATH=other/src python bench/generate_cpu.py``): it uses only APIs both have.

Usage: ``python bench/generate_cpu.py [--repeat 3000] [--rounds 5]``; figures in µs, the
median of the rounds (each round's mean per request).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT.parent / "shared" / "fixtures"
ANSWER = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "created": 1,
    "model": "m1",
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "Hello there."},
            "finish_reason": "stop",
        }
    ],
    "usage": {"prompt_tokens": 9, "completion_tokens": 3, "total_tokens": 12},
}
STREAM = (
    b"".join(
        b"data: " + json.dumps(event).encode() + b"\n\n"
        for event in (
            {
                "id": "c",
                "object": "chat.completion.chunk",
                "created": 1,
                "model": "m1",
                "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}],
            },
            *(
                {
                    "id": "c",
                    "object": "chat.completion.chunk",
                    "created": 1,
                    "model": "m1",
                    "choices": [{"index": 0, "delta": {"content": word}}],
                }
                for word in ("Hello", " there", ", friend", ".")
            ),
            {
                "id": "c",
                "object": "chat.completion.chunk",
                "created": 1,
                "model": "m1",
                "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
            },
        )
    )
    + b"data: [DONE]\n\n"
)


def _upstream(request: httpx.Request) -> httpx.Response:
    if b'"stream":true' in request.content.replace(b" ", b""):
        return httpx.Response(200, content=STREAM, headers={"content-type": "text/event-stream"})
    return httpx.Response(200, json=ANSWER)


def _config(directory: Path) -> Path:
    providers = [
        {
            "name": f"p{i}",
            "type": "openai",
            "base_url": f"http://127.0.0.1:{9000 + i}/v1",  # never dialled: MockTransport
            "api_key_env": "BENCH_KEY",
            "allow_private": True,
            "models": [{"id": "m1", "context_window": 128000, "quality": 1300}],
        }
        for i in (1, 2, 3)
    ]
    path = directory / "orchestra.yaml"
    path.write_text(json.dumps({"providers": providers}))
    return path


def _gateway(config: Path):  # type: ignore[no-untyped-def]
    from orchestra.compose import build_services
    from orchestra.config import Settings
    from orchestra.transport.http import HttpClients

    settings = Settings(config=str(config), gc_tuning=False)
    http = HttpClients.with_transport(httpx.MockTransport(_upstream))
    return build_services(settings, {"BENCH_KEY": "sk-bench"}, http=http).gateway


async def _measure(gateway, model: str, stream: bool, repeat: int) -> float:  # type: ignore[no-untyped-def]
    from orchestra.schemas.chat import ChatRequest

    body = {
        "model": model,
        "messages": [{"role": "user", "content": "Say hello"}],
        "stream": stream,
    }
    requests = [ChatRequest.model_validate(body) for _ in range(repeat)]
    started = time.perf_counter()
    for request in requests:
        if stream:
            handle = await gateway.open_stream(request)
            async for _ in gateway.relay(handle):
                pass
        else:
            await gateway.generate(request)
    return (time.perf_counter() - started) / repeat * 1e6


async def _round(gateway, repeat: int) -> dict[str, float]:  # type: ignore[no-untyped-def]
    cases = {
        "buffered, one deployment (p1/m1)": ("p1/m1", False),
        "buffered, model m1 (3 deployments)": ("m1", False),
        "streamed, one deployment (p1/m1)": ("p1/m1", True),
        "streamed, model m1 (3 deployments)": ("m1", True),
    }
    out = {}
    for label, (model, stream) in cases.items():
        await _measure(gateway, model, stream, 50)  # warm
        out[label] = await _measure(gateway, model, stream, repeat)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    import orchestra

    with tempfile.TemporaryDirectory() as tmp:
        gateway = _gateway(_config(Path(tmp)))
        rounds = [asyncio.run(_round(gateway, args.repeat)) for _ in range(args.rounds)]
    print(
        f"orchestra from {Path(orchestra.__file__).parents[1]}; µs per request (median of rounds)"
    )
    for label in rounds[0]:
        values = [r[label] for r in rounds]
        print(
            f"  {label:38s} {statistics.median(values):7.1f}  (rounds {min(values):.1f}-{max(values):.1f})"
        )


if __name__ == "__main__":
    sys.exit(main())
