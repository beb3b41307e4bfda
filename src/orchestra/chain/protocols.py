"""What the chain use case needs from outside: one model call, and a way to start a run.

The composition root (``compose/chains.py``) adapts ``Generate`` to :class:`Completer`, so
every chain step goes through the normal routing, fallback, breakers, cache and limits,
while this package imports no use case of its own layer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from orchestra.schemas.chat import ChatRequest, Usage


@dataclass(frozen=True)
class Completion:
    """One answered call: the text, who answered, what it cost and took."""

    text: str
    model: str
    usage: Usage | None = None
    cost_usd: float = 0.0
    latency_ms: float = 0.0
    finish_reason: str | None = None


class Completer(Protocol):
    async def complete(self, request: ChatRequest) -> Completion:
        """The answer through the normal route; raises the route's typed errors."""
        ...


class Starter(Protocol):
    """Runs a stored chain run: Step Functions in AWS
    (``orchestra.storage.stepfunctions``), the :class:`~orchestra.chain.runner.LocalRunner`
    otherwise."""

    #: starting the same run twice runs it once (Step Functions names executions)
    idempotent: bool

    async def start(self, run_id: str) -> str | None:
        """Start the run; the execution ARN, if there is one."""
        ...

    async def status(self, execution_arn: str) -> tuple[str, str | None]:
        """The execution's live status (``RUNNING`` when unknown) and its error."""
        ...

    async def aclose(self) -> None:
        """Stop what still runs in this process."""
        ...
