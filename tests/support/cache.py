"""The answer cache's integration tests: a gateway in front of one OpenAI-shaped fake
upstream on 127.0.0.1 whose every answer is numbered (``answer 1``, ``answer 2``...), so a
test can tell which call an answer came from and count the upstream's calls."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from orchestra.api.app import create_app
from orchestra.api.auth import key_id_of
from orchestra.compose import build_services
from orchestra.compose.core import memory_stores
from orchestra.compose.services import Services
from orchestra.config import Settings
from orchestra.observability import LogObserver

from support.gateway import providers_file
from support.upstream import Reply

KEYS = ("sk-client-one-0123456789", "sk-client-two-0123456789", "sk-client-six-0123456789")
KEY_IDS = tuple(key_id_of(k) for k in KEYS)
ENV = {"ALPHA_KEY": "sk-alpha-0123456789"}
MODEL = {
    "id": "m1",
    "context_window": 128000,
    "max_output_tokens": 4000,
    "quality": 1300,
    "input_price": 0.000001,
    "output_price": 0.000004,
    "capabilities": ["streaming", "tools"],
}
#: every answer's usage, and so its cost: 20 x 1e-6 + 12 x 4e-6 = 6.8e-5 USD
USAGE = {"prompt_tokens": 20, "completion_tokens": 12, "total_tokens": 32}
COST_NANOS = 68_000


def _chunk(choice: dict[str, Any] | None, usage: dict[str, int] | None = None) -> bytes:
    body: dict[str, Any] = {"id": "up", "object": "chat.completion.chunk", "model": "m1"}
    body["created"], body["choices"] = 1, [choice] if choice else []
    if usage:
        body["usage"] = usage
    return b"data: " + json.dumps(body).encode() + b"\n\n"


class Numbered:
    """The upstream's responder: the n-th call answers ``answer n is here``."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, request: dict[str, Any]) -> Reply:
        self.calls += 1
        text = f"answer {self.calls} is here"
        if request["body"].get("stream"):
            return Reply(chunks=stream_pieces(text), headers={"content-type": "text/event-stream"})
        message = {"role": "assistant", "content": text}
        choice = {"index": 0, "message": message, "finish_reason": "stop"}
        body = {"id": "up", "object": "chat.completion", "created": 1, "model": "m1"}
        return Reply.json({**body, "choices": [choice], "usage": USAGE})


def stream_pieces(text: str, *, finish: bool = True) -> list[bytes]:
    pieces = [_chunk({"index": 0, "delta": {"role": "assistant", "content": ""}})]
    words = text.split(" ")
    words = words[:1] + [" " + w for w in words[1:]]
    pieces += [_chunk({"index": 0, "delta": {"content": w}}) for w in words]
    if finish:
        pieces.append(_chunk({"index": 0, "delta": {}, "finish_reason": "stop"}))
        pieces += [_chunk(None, USAGE), b"data: [DONE]\n\n"]
    return pieces


class CacheObserver(LogObserver):
    """The default observer, plus the cache hook's calls."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str | None, float]] = []

    def cache(self, outcome: str, match: str | None, saved_usd: float) -> None:
        self.seen.append((outcome, match, saved_usd))


class Clock:
    """The cache's clock, moved by the test."""

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@dataclass
class Cached:
    """A built gateway: its services, clock, observer and a client per key."""

    services: Services
    clock: Clock
    observer: CacheObserver
    clients: list[httpx.AsyncClient] = field(default_factory=list)
    #: the ASGI app itself (a test may call it with messages of its own)
    app: Any = None

    @property
    def client(self) -> httpx.AsyncClient:
        return self.clients[0]


@contextlib.asynccontextmanager
async def cached_gateway(
    tmp_path: Path,
    upstream_url: str,
    *,
    stores_options: dict[str, Any] | None = None,
    **settings: Any,
) -> AsyncIterator[Cached]:
    """The gateway (every key of :data:`KEYS` accepted), its cache on the test's clock."""
    config = providers_file(tmp_path, {"alpha": ("openai", f"{upstream_url}/v1", MODEL)})
    stores = memory_stores()
    for name, value in (stores_options or {}).items():
        setattr(stores, name, value)
    observer = CacheObserver()
    defaults = {"api_keys": ",".join(KEYS), "attempts_per_model": 1, "request_deadline_s": 10.0}
    built = Settings(config=str(config), **{**defaults, **settings})
    services = build_services(built, ENV, stores=stores, observer=observer)
    assert services.gateway is not None and services.gateway.cache is not None
    clock = Clock()
    services.gateway.cache.clock = clock
    app = create_app(services)
    cached = Cached(services, clock, observer, app=app)
    try:
        async with contextlib.AsyncExitStack() as stack:
            for key in KEYS:
                client = httpx.AsyncClient(
                    transport=httpx.ASGITransport(app=app),
                    base_url="http://gateway",
                    headers={"authorization": f"Bearer {key}"},
                )
                cached.clients.append(await stack.enter_async_context(client))
            yield cached
    finally:
        await services.aclose()


def ask(question: str = "Where do I write?", **body: Any) -> dict[str, Any]:
    """A chat completions body for ``question``, deterministic (temperature 0) by default."""
    messages = [{"role": "user", "content": question}]
    return {"model": "alpha/m1", "messages": messages, "temperature": 0, **body}


def text_of(response: httpx.Response) -> str:
    content: str = response.json()["choices"][0]["message"]["content"]
    return content
