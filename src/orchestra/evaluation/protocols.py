"""The calls grading and execution make to the gateway, as protocols and one reply type."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass
class Reply:
    """A gateway answer: the JSON body, the response headers (lower-case names), and the
    client-side wall time."""

    body: dict[str, Any]
    headers: Mapping[str, str] = field(default_factory=dict)
    latency_ms: float = 0.0

    @property
    def text(self) -> str | None:
        """``choices[0].message.content`` of a chat completion (None when absent)."""
        try:
            content = self.body["choices"][0]["message"].get("content")
        except (KeyError, IndexError, TypeError, AttributeError):
            return None
        return content if isinstance(content, str) else None

    @property
    def cost_usd(self) -> float:
        """``cost_usd`` in the body (multi-generate, debates), else ``x-orchestra-cost-usd``."""
        value = self.body.get("cost_usd", self.headers.get("x-orchestra-cost-usd", 0.0))
        try:
            return float(value)
        except (TypeError, ValueError):
            return 0.0


class ChatClient(Protocol):
    """``POST /v1/chat/completions``; raises :class:`~orchestra.errors.GatewayCallFailed`."""

    async def chat(self, body: dict[str, Any]) -> Reply: ...
