"""Three misbehaving OpenAI-compatible upstreams for the chaos bench (bench/chaos.py).

One process (its CPU apart from the gateway's) serving three ports with the issue's faults:

* A: 500 on 30% of calls, 2% hung connections (the request is accepted and never answered
  until the client closes), 5% truncated bodies, 5% HTML error pages sent with status 200;
* B: 429 with ``Retry-After: 1`` on 50% of calls, 5% truncated bodies;
* C: healthy.

Every answer comes after ~5 ms. Each upstream draws its faults from its own
``random.Random`` seeded from ``--seed`` and its name, so a run with the same seed fails the
same calls of each upstream (which request a call belongs to depends on scheduling).

Answers are a deterministic function of the FIRST user message (see :func:`expected_answer`),
so the client can check every answer exactly and a continuation request (the same
conversation plus the partial answer) maps to the same answer:

* messages ending with an assistant message whose text is a prefix of the answer (prefill):
  exactly the remainder;
* messages ending with [assistant(partial), user(instruction)]: the remainder with the
  partial's last few characters repeated first (the overlap a real model produces, which a
  gateway must drop).

``GET /stats`` on each port: calls, calls by outcome, continuation calls, client disconnects.

Usage: ``python bench/chaos_upstream.py --seed 13 PORT_A PORT_B PORT_C``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

from aiohttp import web

_VOCABULARY = (
    "amber basalt cedar delta ember fjord garnet harbor indigo juniper kelp lagoon meadow "
    "nectar onyx prairie quartz river summit tundra umber valley willow xenon yarrow zephyr "
    "anchor beacon canyon dune estuary falcon glacier heron island jasper kestrel lantern"
)
WORDS = _VOCABULARY.split()
#: words per answer: long enough for a stream of many chunks
ANSWER_WORDS = 40
#: characters of the partial answer an "instruction" continuation repeats before the rest
OVERLAP_CHARS = 7
LATENCY_S = 0.005
HTML_PAGE = (
    b"<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head><body>"
    b"<center><h1>502 Bad Gateway</h1></center><hr><center>nginx</center></body></html>\n"
)


def prompt(request_id: int) -> str:
    """The user message of request ``request_id`` (its answer is :func:`expected_answer`)."""
    return f"chaos request {request_id}: reply with the sentence of this request."


def expected_answer(first_user_message: str) -> str:
    """The one right answer to a conversation: ~40 words drawn from a generator seeded by the
    first user message (random's str seeding is stable across processes and runs)."""
    rng = random.Random(first_user_message)
    words = [rng.choice(WORDS) for _ in range(ANSWER_WORDS)]
    return " ".join(words).capitalize() + "."


@dataclass(frozen=True)
class Faults:
    """Shares of calls answered each way (the rest answer normally)."""

    error_500: float = 0.0
    hang: float = 0.0
    truncate: float = 0.0
    html: float = 0.0
    rate_limit: float = 0.0

    def draw(self, rng: random.Random) -> str:
        roll = rng.random()
        for outcome, share in (
            ("500", self.error_500),
            ("hang", self.hang),
            ("truncated", self.truncate),
            ("html", self.html),
            ("429", self.rate_limit),
        ):
            if roll < share:
                return outcome
            roll -= share
        return "ok"


PROFILES = {
    "a": Faults(error_500=0.30, hang=0.02, truncate=0.05, html=0.05),
    "b": Faults(rate_limit=0.50, truncate=0.05),
    "c": Faults(),
}


def text_of(message: dict[str, Any]) -> str:
    content = message.get("content")
    if isinstance(content, list):
        return "".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return content if isinstance(content, str) else ""


def answer_for(messages: list[dict[str, Any]]) -> tuple[str, bool]:
    """The text to send for ``messages``, and whether the call continues a partial answer."""
    first_user = next((text_of(m) for m in messages if m.get("role") == "user"), "")
    full = expected_answer(first_user)
    roles = [m.get("role") for m in messages]
    if roles and roles[-1] == "assistant":
        partial = text_of(messages[-1])
        if full.startswith(partial):
            return full[len(partial) :], True
    if len(roles) >= 2 and roles[-2:] == ["assistant", "user"]:
        partial = text_of(messages[-2])
        if partial and full.startswith(partial):
            return partial[-OVERLAP_CHARS:] + full[len(partial) :], True
    return full, False


def completion(text: str, model: str, prompt_words: int) -> dict[str, Any]:
    words = len(text.split())
    return {
        "id": "chatcmpl-chaos",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "finish_reason": "stop",
            }
        ],
        "usage": {
            "prompt_tokens": prompt_words,
            "completion_tokens": words,
            "total_tokens": prompt_words + words,
        },
    }


def sse_events(text: str, model: str, prompt_words: int, usage: bool) -> list[bytes]:
    """A whole stream, event by event: a role chunk, one chunk per word, a stop chunk, the
    usage chunk when asked for, then [DONE]."""

    def event(delta: dict[str, Any], finish: str | None = None) -> bytes:
        body = {
            "id": "chatcmpl-chaos",
            "object": "chat.completion.chunk",
            "created": 0,
            "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }
        return b"data: " + json.dumps(body).encode() + b"\n\n"

    pieces = [w + " " for w in text.split(" ")]
    pieces[-1] = pieces[-1][:-1]
    events = [event({"role": "assistant", "content": ""})]
    events += [event({"content": piece}) for piece in pieces if piece]
    events.append(event({}, "stop"))
    if usage:
        words = len(text.split())
        counts = {"prompt_tokens": prompt_words, "completion_tokens": words}
        counts["total_tokens"] = prompt_words + words
        chunk = {"id": "chatcmpl-chaos", "object": "chat.completion.chunk", "created": 0}
        chunk |= {"model": model, "choices": [], "usage": counts}
        events.append(b"data: " + json.dumps(chunk).encode() + b"\n\n")
    events.append(b"data: [DONE]\n\n")
    return events


def truncated(events: list[bytes], cut_at: float) -> list[bytes]:
    """The first events of a stream: the role chunk and at least one content chunk, never
    all of them (``cut_at`` in [0, 1) chooses how many)."""
    words = sum(1 for e in events if b'"delta": {"content"' in e)
    return events[: 2 + int(cut_at * max(1, words - 1))]


def error_body(message: str, kind: str) -> bytes:
    return json.dumps({"error": {"message": message, "type": kind, "code": kind}}).encode()


class Upstream:
    """One upstream: its faults, its seeded draws and its counters."""

    def __init__(self, name: str, faults: Faults, seed: int) -> None:
        self.name = name
        self.faults = faults
        self.rng = random.Random(f"{seed}:{name}")
        self.stats: Counter[str] = Counter()

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/stats", self.report)
        app.router.add_post("/v1/chat/completions", self.answer)
        return app

    async def report(self, request: web.Request) -> web.Response:
        return web.json_response(dict(self.stats))

    async def answer(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        outcome = self.faults.draw(self.rng)
        # how a truncation ends and where, drawn on every call before any await so the
        # sequence of draws is the same whatever the scheduling
        cut_abruptly, cut_at = self.rng.random() < 0.5, self.rng.random()
        streamed = bool(body.get("stream"))
        text, continued = answer_for(body.get("messages") or [])
        self.stats["calls"] += 1
        self.stats[f"outcome:{outcome}"] += 1
        self.stats["streamed" if streamed else "buffered"] += 1
        self.stats["continuations"] += continued
        await asyncio.sleep(LATENCY_S)
        if outcome == "hang":
            return await self.hang(request)
        if outcome == "500":
            return web.Response(
                status=500,
                body=error_body("The server had an error", "server_error"),
                content_type="application/json",
            )
        if outcome == "429":
            return web.Response(
                status=429,
                body=error_body("Rate limit reached for requests", "rate_limit_exceeded"),
                content_type="application/json",
                headers={"Retry-After": "1"},
            )
        if outcome == "html":
            return web.Response(status=200, body=HTML_PAGE, content_type="text/html")
        model = str(body.get("model", ""))
        prompt_words = sum(len(text_of(m).split()) for m in body.get("messages") or [])
        if streamed:
            usage = bool((body.get("stream_options") or {}).get("include_usage"))
            events = sse_events(text, model, prompt_words, usage)
            if outcome == "truncated":
                events = truncated(events, cut_at)
            return await self.stream(request, events, outcome == "truncated", cut_abruptly)
        raw = json.dumps(completion(text, model, prompt_words)).encode()
        if outcome == "truncated":
            return await self.truncated_body(request, raw, cut_abruptly)
        return web.Response(body=raw, content_type="application/json")

    async def hang(self, request: web.Request) -> web.StreamResponse:
        """Accept and never answer; return once the client has closed the connection."""
        try:
            # aiohttp signals no event when the peer closes while the handler is not
            # reading, but drops the transport: polling it is the portable way
            while request.transport is not None and not request.transport.is_closing():  # noqa: ASYNC110
                await asyncio.sleep(0.05)
        finally:
            self.stats["disconnects"] += 1
        return web.Response(status=499)

    async def stream(
        self, request: web.Request, events: list[bytes], truncate: bool, abrupt: bool
    ) -> web.StreamResponse:
        """The events; a truncated stream ends either by closing the connection or by ending
        the body cleanly without [DONE]."""
        response = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await response.prepare(request)
        try:
            for event in events:
                await response.write(event)
        except (ConnectionResetError, ConnectionError):
            self.stats["disconnects"] += 1
            return response
        if truncate and abrupt and request.transport is not None:
            request.transport.close()
            return response
        await response.write_eof()
        return response

    async def truncated_body(
        self, request: web.Request, raw: bytes, abrupt: bool
    ) -> web.StreamResponse:
        """The JSON cut mid-body: either sent whole as a shorter body (a well-formed HTTP
        answer whose JSON is broken), or the full length announced and the connection
        closed half-way."""
        cut = raw[: len(raw) // 2]
        if not abrupt:
            return web.Response(body=cut, content_type="application/json")
        response = web.StreamResponse(headers={"content-type": "application/json"})
        response.content_length = len(raw)
        await response.prepare(request)
        await response.write(cut)
        if request.transport is not None:
            request.transport.close()
        return response


async def serve(ports: list[int], seed: int) -> None:
    runners = []
    for (name, faults), port in zip(PROFILES.items(), ports, strict=True):
        runner = web.AppRunner(Upstream(name, faults, seed).app(), access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        runners.append(runner)
    try:
        await asyncio.Event().wait()
    finally:
        for runner in runners:
            await runner.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("ports", type=int, nargs=3, metavar="PORT", help="A, B and C")
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args.ports, args.seed))


if __name__ == "__main__":
    main()
