"""Chain test doubles: a scripted Completer, and steps + store over the memory records."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from orchestra.catalog.models import Catalog, ModelInfo
from orchestra.catalog.source import CatalogSource
from orchestra.chain.document import parse_chain
from orchestra.chain.protocols import Completion
from orchestra.chain.steps import ChainSteps
from orchestra.chain.store import ChainStore, RunHeader
from orchestra.errors import ServerError
from orchestra.schemas.chat import ChatRequest, Usage

MODELS = [
    ModelInfo(id=f"up/{n}", context_window=32000, input_price=1e-6, output_price=2e-6, quality=q)
    for n, q in (("a", 1300), ("b", 1350), ("c", 1400))
]


class ScriptedCompleter:
    """Answers by a function of the request; records every request it saw."""

    def __init__(self, answer: Callable[[ChatRequest], str] | None = None) -> None:
        self.answer = answer or (lambda r: f"echo: {r.messages[-1].content}")
        self.seen: list[ChatRequest] = []

    async def complete(self, request: ChatRequest) -> Completion:
        self.seen.append(request)
        text = self.answer(request)
        if text == "FAIL":
            raise ServerError("upstream down", provider="up", model=request.model)
        model = request.model if request.model != "auto" else "up/a"
        return Completion(
            text=text, model=model, usage=Usage.of(10, 5), cost_usd=2e-5, latency_ms=1.5
        )


def catalog() -> CatalogSource:
    return CatalogSource(base=Catalog(MODELS))


def steps_over(store: ChainStore, completer: ScriptedCompleter) -> ChainSteps:
    return ChainSteps(store, completer, catalog())


async def stored_run(
    store: ChainStore, document: dict[str, Any], inputs: dict[str, Any] | None = None
) -> str:
    chain = parse_chain(document)
    header = RunHeader(
        id="chrun_" + "a" * 26,
        chain=chain.document(),
        name=chain.name,
        inputs=chain.with_inputs(inputs or {}),
        created_at=1.0,
    )
    await store.create(header)
    return header.id
