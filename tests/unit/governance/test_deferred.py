"""A call's settle lands after the client has its answer, and before the request ends."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal
from typing import Any

from orchestra.api.app import create_app
from orchestra.api.auth import key_id_of
from orchestra.compose import build_services
from orchestra.compose.core import memory_stores
from orchestra.config import Settings
from orchestra.governance.records import KeyPolicy

from support.governance import FakeLedger, FakePolicies

KEY = "sk-deferred-0123456789"


class SlowLedger(FakeLedger):
    """Settles only after a pause, and says when."""

    def __init__(self, events: list[str]) -> None:
        super().__init__()
        self.events = events

    async def settle(self, hold: Any, nanos: int, tokens: int) -> None:
        await asyncio.sleep(0.05)
        await super().settle(hold, nanos, tokens)
        self.events.append("settled")


async def test_the_answer_is_sent_before_the_settle_and_the_request_waits_for_it() -> None:
    # Given a metered key whose ledger takes a while to settle
    events: list[str] = []
    stores = memory_stores()
    stores.policies = FakePolicies(
        keys={key_id_of(KEY): KeyPolicy(key_id=key_id_of(KEY), budget_day_usd=Decimal("1"))}
    )
    stores.ledger = SlowLedger(events)
    settings = Settings(api_keys=KEY, simulator=True, simulator_latency_scale=0.0)
    app = create_app(build_services(settings, {}, stores=stores))
    body = json.dumps({"model": "auto", "messages": [{"role": "user", "content": "hi"}]})
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/v1/chat/completions",
        "raw_path": b"/v1/chat/completions",
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"authorization", f"Bearer {KEY}".encode()),
            (b"content-type", b"application/json"),
        ],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
    }
    messages = [{"type": "http.request", "body": body.encode(), "more_body": False}]

    async def receive() -> dict[str, Any]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    status: list[int] = []

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            status.append(message["status"])
        if message["type"] == "http.response.body" and not message.get("more_body"):
            events.append("answered")

    # When the request runs to its end
    await app(scope, receive, send)
    # Then the client had the whole answer before the settle landed, and the request
    # (a Lambda invocation) ended only after it
    assert status == [200]
    assert events == ["answered", "settled"]
    assert stores.ledger.live == {}
