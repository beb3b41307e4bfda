"""Chaos bench (issue 17): the gateway in front of three misbehaving upstreams, every answer checked.

Starts bench/chaos_upstream.py (A: 500s, hung connections, truncated bodies, HTML pages with
status 200; B: 429 + Retry-After and truncated bodies; C: healthy), then ``orchestra serve``
from ``--src`` with a generated orchestra.yaml naming the three as providers ``chaos-a``,
``chaos-b`` and ``chaos-c``, each serving model ``chaos-1``; then asks ``chaos-1``
``--requests`` times at ``--concurrency``, a ``--stream-share`` of them streamed.

Each answer's text is a known function of its prompt, so every answer is classified exactly:

* complete: the full expected text (a stream: ending with ``[DONE]``);
* explicit error: a non-200 answer in OpenAI's error shape, or a stream ending with an error
  event (counted apart when it came after the first content);
* silent truncation: a 200 whose text is not the full expected answer, a body that is not a
  chat completion, or a stream that ended without ``[DONE]`` or an error event;
* transport error: the connection to the gateway failed or was cut (or the client's 60 s
  timeout fired).

Also printed: latency p50/p99/max (whole request, client side), hedges (answers carrying an
``x-orchestra-hedge`` header), continuations (chunks carrying ``"orchestra": {"continued":
[...]}``), upstream calls per upstream (their ``/stats``), and PASS/FAIL per target of the
issue. The exit code is 0 unless ``--check`` is given and a target failed.

Usage: ``python bench/chaos.py [--requests 2000] [--concurrency 16] [--seed 13]
[--stream-share 0.5] [--deadline 25] [--client-keys 1] [--src DIR] [--fallbacks auto|on|off]
[--gateway-env NAME=VALUE] [--check]``.

The default seed, 13, is one whose draws give upstream A a hung connection among its first
calls. Today's breakers shut a model after five failures with no success between them, for
30 s, longer than a whole run, so the faults a run meets are those drawn before A's and B's
breakers open (when that happens depends on the seed, and a little on timing): the 2,000
requests of seed 17 met no hang. ``--gateway-env ORCHESTRA_BREAKER_COOLDOWN_S=2`` lets the
breakers re-admit A and B during the run, for a harder scenario.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from chaos_stack import MODEL, client_key, start_stack
from chaos_upstream import PROFILES, expected_answer, prompt
from common import ROOT, percentile

CLIENT_TIMEOUT_S = 60.0
KINDS = ("complete", "explicit error", "silent truncation", "transport error")


@dataclass
class Verdict:
    """What one answer was, from the client's side."""

    kind: str
    detail: str = ""
    #: an error event in a stream that had started (status 200 sent), and whether some of
    #: the answer's text had arrived before it
    in_stream: bool = False
    after_text: bool = False
    continued: bool = False


@dataclass
class Answer:
    request_id: int
    streamed: bool
    seconds: float
    status: int
    verdict: Verdict
    hedged: bool = False
    #: the gateway's ``x-orchestra-attempts`` (what it tried, how each went): shown for the
    #: slowest answers, so a slow one says where its time went
    attempts: str = ""


def is_error_body(body: object) -> bool:
    """OpenAI's error shape: ``{"error": {"message": "...", ...}}``."""
    return (
        isinstance(body, dict)
        and isinstance(body.get("error"), dict)
        and isinstance(body["error"].get("message"), str)
    )


def continued(body: dict[str, Any]) -> bool:
    marker = body.get("orchestra")
    return isinstance(marker, dict) and bool(marker.get("continued"))


def classify_buffered(status: int, raw: bytes, expected: str) -> Verdict:
    try:
        body = json.loads(raw)
    except ValueError:
        body = None
    if status != 200:
        if is_error_body(body):
            return Verdict("explicit error", f"{status} {body['error']['message'][:80]}")
        return Verdict("silent truncation", f"{status} not in OpenAI's error shape: {raw[:60]!r}")
    try:
        text = body["choices"][0]["message"]["content"]
    except (TypeError, KeyError, IndexError):
        return Verdict("silent truncation", f"200 but not a chat completion: {raw[:60]!r}")
    if text != expected:
        return Verdict("silent truncation", f"200 with wrong text: {str(text)[:60]!r}")
    return Verdict("complete", continued=continued(body))


def sse_data(raw: bytes) -> list[str]:
    """The ``data:`` payloads of an SSE body, in order (comments and other fields skipped)."""
    payloads = []
    for line in raw.decode("utf-8", "replace").splitlines():
        if line.startswith("data:"):
            payloads.append(line[5:].strip())
    return payloads


def classify_stream(status: int, raw: bytes, expected: str) -> Verdict:
    if status != 200:
        return classify_buffered(status, raw, expected)
    text: list[str] = []
    done = was_continued = False
    for data in sse_data(raw):
        if data == "[DONE]":
            done = True
            break
        try:
            chunk = json.loads(data)
        except ValueError:
            return Verdict("silent truncation", f"corrupted event: {data[:60]!r}")
        if is_error_body(chunk):
            message = chunk["error"]["message"][:80]
            detail, after_text = f"error event: {message}", any(text)
            return Verdict("explicit error", detail, in_stream=True, after_text=after_text)
        was_continued = was_continued or continued(chunk)
        for choice in chunk.get("choices") or []:
            text.append((choice.get("delta") or {}).get("content") or "")
    answer = "".join(text)
    if not done:
        return Verdict("silent truncation", f"no [DONE] after {len(answer)} chars")
    if answer != expected:
        return Verdict("silent truncation", f"[DONE] with wrong text: {answer[:60]!r}")
    return Verdict("complete", continued=was_continued)


def request_body(request_id: int, streamed: bool, fallbacks: bool) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": MODEL,
        "messages": [{"role": "user", "content": prompt(request_id)}],
        "max_tokens": 200,
    }
    if fallbacks:  # chaos-1 resolves to chaos-a's entry; the other two as explicit fallbacks
        body["fallbacks"] = [f"chaos-{name}/{MODEL}" for name in list(PROFILES)[1:]]
    if streamed:
        body |= {"stream": True, "stream_options": {"include_usage": True}}
    return body


async def ask(
    client: httpx.AsyncClient, request_id: int, streamed: bool, args: argparse.Namespace
) -> Answer:
    """One request, timed from before it is sent until its last byte, and its verdict."""
    expected = expected_answer(prompt(request_id))
    body = request_body(request_id, streamed, args.fallbacks)
    key = client_key(request_id % args.client_keys)
    classify = classify_stream if streamed else classify_buffered
    received = bytearray()
    status, hedged, attempts = 0, False, ""
    start = time.perf_counter()
    try:
        async with client.stream(
            "POST", "/v1/chat/completions", json=body, headers={"authorization": f"Bearer {key}"}
        ) as response:
            status = response.status_code
            hedged = "x-orchestra-hedge" in response.headers
            attempts = response.headers.get("x-orchestra-attempts", "")
            async for piece in response.aiter_bytes():
                received += piece
        verdict = classify(status, bytes(received), expected)
    except httpx.HTTPError as exc:
        verdict = Verdict("transport error", f"{type(exc).__name__} after {len(received)} bytes")
    seconds = time.perf_counter() - start
    return Answer(request_id, streamed, seconds, status, verdict, hedged, attempts)


async def load(url: str, args: argparse.Namespace) -> list[Answer]:
    """Every request once, ``concurrency`` at a time; which ones stream comes from ``seed``."""
    rng, concurrency = random.Random(args.seed), args.concurrency
    plan = [(i, rng.random() < args.stream_share) for i in range(args.requests)]
    queue = iter(plan)
    answers: list[Answer] = []
    limits = httpx.Limits(max_connections=concurrency * 2, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=CLIENT_TIMEOUT_S) as client:

        async def worker() -> None:
            for request_id, streamed in queue:
                answers.append(await ask(client, request_id, streamed, args))

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return sorted(answers, key=lambda a: a.request_id)


@dataclass
class Target:
    name: str
    passed: bool
    measured: str


def targets(answers: list[Answer], upstream_calls: int) -> list[Target]:
    """The issue's targets, with one healthy deployment available."""
    kinds = Counter(a.verdict.kind for a in answers)
    seconds = [a.seconds for a in answers]
    hedges = sum(a.hedged for a in answers)
    overhead = hedges / upstream_calls if upstream_calls else 0.0
    return [
        Target(
            "every request completes (streams included)",
            kinds["complete"] == len(answers),
            f"{kinds['complete']}/{len(answers)}",
        ),
        Target(
            "0 silent truncations", kinds["silent truncation"] == 0, str(kinds["silent truncation"])
        ),
        Target("slowest request < 3 s", max(seconds) < 3.0, f"{max(seconds):.2f} s"),
        Target("p99 < 1.5 s", percentile(seconds, 99) < 1.5, f"{percentile(seconds, 99):.2f} s"),
        Target("hedging adds <= 5% upstream calls", overhead <= 0.05, f"{overhead:.1%}"),
    ]


def report(answers: list[Answer], stats: dict[str, Counter[str]], wall_s: float) -> bool:
    """Print the figures and the targets; True when every target passed."""
    streamed = sum(a.streamed for a in answers)
    print(f"requests {len(answers)} ({streamed} streamed) in {wall_s:.1f} s")
    for kind in KINDS:
        of_kind = [a for a in answers if a.verdict.kind == kind]
        in_streams = sum(a.streamed for a in of_kind)
        print(f"  {kind:18s} {len(of_kind):6d}  ({in_streams} streamed)")
    in_stream = sum(a.verdict.in_stream for a in answers)
    after_text = sum(a.verdict.after_text for a in answers)
    print(f"  (error events in started streams: {in_stream}, {after_text} of them after text)")
    seconds = [a.seconds for a in answers]
    print(
        f"latency p50 {percentile(seconds, 50):.3f} s  p99 {percentile(seconds, 99):.3f} s  "
        f"max {max(seconds):.3f} s"
    )
    hedges = sum(a.hedged for a in answers)
    continuations = sum(a.verdict.continued for a in answers)
    total = sum(s["calls"] for s in stats.values())
    print(f"hedges {hedges}  continuations {continuations}  upstream calls {total}")
    print_upstreams(stats)
    print_examples(answers)
    results = targets(answers, total)
    print("targets:")
    for target in results:
        print(f"  {'PASS' if target.passed else 'FAIL'}  {target.name}: {target.measured}")
    return all(t.passed for t in results)


def print_upstreams(stats: dict[str, Counter[str]]) -> None:
    """Each upstream's calls by outcome, continuation calls and closed connections (hung
    calls given up, hedge losers cancelled)."""
    for name, counts in stats.items():
        outcomes = ", ".join(
            f"{k.split(':', 1)[1]} {v}"
            for k, v in sorted(counts.items())
            if k.startswith("outcome:")
        )
        print(
            f"  chaos-{name}: {counts['calls']} calls ({outcomes}); continuation calls "
            f"{counts['continuations']}, client disconnects {counts['disconnects']}"
        )


def print_examples(answers: list[Answer], per_kind: int = 3) -> None:
    """A few answers of each kind that is not complete, and the slowest ones."""
    for kind in KINDS[1:]:
        examples = [a for a in answers if a.verdict.kind == kind][:per_kind]
        for a in examples:
            mode = "stream" if a.streamed else "buffered"
            print(f"  e.g. {kind}: #{a.request_id} {mode} {a.seconds:.2f} s: {a.verdict.detail}")
    for a in sorted(answers, key=lambda a: -a.seconds)[:per_kind]:
        mode = "stream" if a.streamed else "buffered"
        tried = f" [{a.attempts}]" if a.attempts else ""
        print(f"  slowest: #{a.request_id} {mode} {a.seconds:.2f} s: {a.verdict.kind}{tried}")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--stream-share", type=float, default=0.5)
    parser.add_argument(
        "--deadline",
        type=float,
        default=25.0,
        help="the gateway's ORCHESTRA_REQUEST_DEADLINE_S (the issue's 25 s); 0 = its default",
    )
    parser.add_argument(
        "--client-keys",
        type=int,
        default=1,
        help="client API keys the requests take turns with (per-key budgets, e.g. hedges)",
    )
    parser.add_argument("--src", type=Path, default=ROOT, help="the repository served")
    parser.add_argument(
        "--fallbacks",
        choices=("auto", "on", "off"),
        default="auto",
        help="send the other two deployments as explicit fallbacks; auto: only when --src "
        "has no deployments (catalog/deployments.py), so chaos-1 alone names one of three",
    )
    parser.add_argument(
        "--gateway-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="one more setting for the gateway, e.g. ORCHESTRA_BREAKER_COOLDOWN_S=2 (repeatable)",
    )
    parser.add_argument("--check", action="store_true", help="exit 1 when a target fails")
    args = parser.parse_args()
    args.gateway_env = dict(item.split("=", 1) for item in args.gateway_env)
    args.src = args.src.resolve()
    if args.fallbacks == "auto":
        has_deployments = (args.src / "src/orchestra/catalog/deployments.py").exists()
        args.fallbacks = "off" if has_deployments else "on"
    args.fallbacks = args.fallbacks == "on"
    return args


def main() -> None:
    args = parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        stack = start_stack(Path(tmp), args)
        try:
            print(
                f"gateway from {args.src}, seed {args.seed}, concurrency {args.concurrency}, "
                f"deadline {f'{args.deadline} s' if args.deadline else 'default'}, "
                f"fallbacks {'on' if args.fallbacks else 'off'}"
                + "".join(f", {k}={v}" for k, v in args.gateway_env.items())
            )
            start = time.perf_counter()
            answers = asyncio.run(load(stack.gateway, args))
            wall = time.perf_counter() - start
            passed = report(answers, stack.upstream_stats(), wall)
        finally:
            stack.stop()
    if args.check and not passed:
        sys.exit(1)


if __name__ == "__main__":
    main()
