"""What the batch use case needs from outside, as protocols the composition root fills.

A batch line is a request to one of the gateway's own endpoints; the batch package must not
import the generate or embed use cases (they are peers), so ``compose/batches.py`` adapts
them to :class:`Endpoints`. Runs start through a :class:`Starter`: Step Functions deployed,
the in-process :class:`~orchestra.batch.runner.LocalRunner` otherwise.
"""

from __future__ import annotations

from typing import Any, Protocol

#: the endpoints a batch may target (one per file)
CHAT = "/v1/chat/completions"
EMBEDDINGS = "/v1/embeddings"
ENDPOINTS = (CHAT, EMBEDDINGS)


class Endpoints(Protocol):
    """One batch line's request through the normal route (routing, fallback, breakers,
    cache, limits), as if it had been POSTed to ``url`` by the batch's creator."""

    async def call(self, url: str, body: dict[str, Any]) -> dict[str, Any]:
        """The endpoint's OpenAI response body (status 200); a failure raises the typed
        :class:`~orchestra.errors.OrchestraError` the endpoint would have answered with."""
        ...


class Starter(Protocol):
    """Runs a stored batch (prepare, chunks, finalize)."""

    #: starting the same batch twice runs it once
    idempotent: bool

    async def start(self, batch_id: str) -> str | None:
        """Start the batch's run; the Step Functions execution ARN, if there is one."""
        ...

    async def aclose(self) -> None:
        """Stop what still runs in this process (shutdown, test teardown)."""
        ...
