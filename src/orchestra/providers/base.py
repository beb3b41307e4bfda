"""The provider interface and the configuration every adapter is built from."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, Protocol, runtime_checkable

from orchestra.schemas.chat import ChatChunk, ChatRequest, ChatResponse

if TYPE_CHECKING:
    from orchestra.catalog.models import ModelInfo

ProviderType = Literal["openai", "anthropic", "gemini", "bedrock", "simulator"]


@dataclass(frozen=True)
class ProviderConfig:
    """One configured upstream: which wire protocol, where, and with which key.

    ``api_key`` is the key itself (resolved from env or Secrets Manager before this object
    is built); it is kept out of ``repr`` so it can never reach a log line.
    """

    name: str
    type: ProviderType
    base_url: str | None = None
    api_key: str | None = field(default=None, repr=False)
    headers: dict[str, str] = field(default_factory=dict, repr=False)
    region: str | None = None
    #: seconds allowed to connect; the read timeout comes from the request deadline
    connect_timeout: float = 5.0
    #: may reach private and loopback addresses (``allow_private: true`` or the deployment's)
    allow_private: bool = False
    #: simulator-only knobs (latency scale, failure rate, seed)
    options: dict[str, float | int | str] = field(default_factory=dict)


#: told the status and headers of every upstream answer (rate-limit steering)
HeadersHook = Callable[[int, Mapping[str, str]], None]


@dataclass(frozen=True)
class CallOptions:
    """Per-call limits decided by resilience, not by the adapter.

    ``on_headers``: called with the status and headers of the upstream's answer as soon as
    they arrive (error answers included), so load balancing can read its rate-limit headers.
    ``model``: the catalog's model the call is for (its prices: what governance holds and
    settles, ``governance/metering.py``); every caller sets it, None is never metered.
    """

    timeout: float = 60.0
    on_headers: HeadersHook | None = None
    model: ModelInfo | None = None


@runtime_checkable
class Provider(Protocol):
    """One wire protocol bound to one configured upstream."""

    name: str

    async def complete(
        self, request: ChatRequest, model: str, options: CallOptions
    ) -> ChatResponse: ...

    def stream(
        self, request: ChatRequest, model: str, options: CallOptions
    ) -> AsyncIterator[ChatChunk]: ...
