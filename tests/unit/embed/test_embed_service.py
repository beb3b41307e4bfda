"""The embeddings use case: the chain is the requested model alone unless the caller lists
fallbacks; ``auto`` is the cheapest configured embedding model; chat models are refused."""

from __future__ import annotations

from typing import Any

import pytest

from orchestra.catalog.models import Catalog, ModelInfo
from orchestra.catalog.source import CatalogSource
from orchestra.embed.service import Embed
from orchestra.errors import (
    AllCandidatesFailed,
    InvalidRequest,
    NoCandidates,
    ProviderError,
    ServerError,
    UnknownModel,
)
from orchestra.providers.base import CallOptions, ProviderConfig
from orchestra.providers.embeddings import Embeddings
from orchestra.providers.registry import Registry
from orchestra.resilience.breaker import BreakerPolicy, CircuitBreaker
from orchestra.resilience.retry import RetryPolicy
from orchestra.schemas.embeddings import EmbeddingRequest
from orchestra.storage.memory import MemoryBreakerBackend, MemoryMetricsBackend
from orchestra.storage.model_stats import MetricsRecorder


def embedding_model(model_id: str, price: float, *caps: str, dims: int = 8) -> ModelInfo:
    return ModelInfo(
        id=model_id,
        context_window=8192,
        input_price=price,
        output_price=0.0,
        quality=1000,
        capabilities=frozenset({"embeddings", *caps}),
        dimensions=dims,
    )


CATALOG = Catalog(
    [
        embedding_model("a/big", 1e-7, "dimensions", dims=1024),
        embedding_model("a/small", 2e-8, "dimensions"),
        embedding_model("b/fixed", 1e-8),
        ModelInfo(id="a/chat", context_window=8192, input_price=0, output_price=0, quality=1200),
    ]
)


class Scripted:
    """An embedding client answering each call from a script (an error or vectors)."""

    def __init__(self, name: str, *script: ProviderError | None) -> None:
        self.name = name
        self.script = list(script)
        self.calls: list[tuple[list[str], str, int | None]] = []

    async def embed(
        self, texts: list[str], model: str, dimensions: int | None, options: CallOptions
    ) -> Embeddings:
        self.calls.append((texts, model, dimensions))
        step = self.script.pop(0) if self.script else None
        if step is not None:
            raise step
        return Embeddings([[float(len(t)), 1.0] for t in texts], 7 * len(texts))


def service(**clients: Scripted) -> tuple[Embed, MetricsRecorder]:
    configs = {name: ProviderConfig(name, "openai") for name in clients}
    registry = Registry(providers={n: object() for n in clients}, configs=configs)  # type: ignore[misc]
    registry.embedders.update(clients)
    breaker = CircuitBreaker(MemoryBreakerBackend(), BreakerPolicy(failure_threshold=3))
    metrics = MetricsRecorder(MemoryMetricsBackend())
    embed = Embed(
        catalog=CatalogSource(base=CATALOG),
        registry=registry,
        breaker=breaker,
        metrics=metrics,
        retry=RetryPolicy(attempts_per_model=2, base_delay_s=0.0),
        deadline_s=5.0,
    )
    return embed, metrics


def request(**body: Any) -> EmbeddingRequest:
    return EmbeddingRequest.model_validate({"input": ["hello", "hi"], **body})


def failure(model: str = "small") -> ServerError:
    return ServerError("boom", provider="a", model=model, upstream_status=500)


async def test_an_upstream_name_reaches_its_model_and_costs_input_tokens():
    a = Scripted("a")
    embed, _ = service(a=a)
    result = await embed.embed(request(model="small"))
    assert result.model.id == "a/small" and result.fallback is None
    assert a.calls == [(["hello", "hi"], "small", None)]
    assert result.vectors == [[5.0, 1.0], [2.0, 1.0]]
    assert result.prompt_tokens == 14 and result.cost_usd == pytest.approx(14 * 2e-8)


async def test_auto_is_the_cheapest_configured_embedding_model():
    embed, _ = service(a=Scripted("a"), b=Scripted("b"))
    assert (await embed.embed(request(model="auto"))).model.id == "b/fixed"
    embed, _ = service(a=Scripted("a"))
    assert (await embed.embed(request(model="auto"))).model.id == "a/small"


async def test_auto_with_dimensions_skips_models_that_cannot_shorten_vectors():
    embed, _ = service(a=Scripted("a"), b=Scripted("b"))
    result = await embed.embed(request(model="auto", dimensions=4))
    assert result.model.id == "a/small"
    result = await embed.embed(request(model="auto", dimensions=512))
    assert result.model.id == "a/big"


async def test_a_failing_model_is_retried_but_never_replaced_without_fallbacks():
    # Given a model that fails twice, and another embedding model configured
    a, b = Scripted("a", failure(), failure()), Scripted("b")
    embed, _ = service(a=a, b=b)
    # When the caller asks for it with no fallbacks
    with pytest.raises(AllCandidatesFailed) as info:
        await embed.embed(request(model="a/small"))
    # Then it was tried twice (retry), and nothing else was
    assert [x.model for x in info.value.attempts] == ["a/small", "a/small"]
    assert b.calls == []


async def test_a_retry_on_the_same_model_is_not_a_fallback():
    a = Scripted("a", failure())
    embed, _ = service(a=a)
    result = await embed.embed(request(model="a/small"))
    assert result.model.id == "a/small" and result.fallback is None
    assert len(result.attempts) == 2


async def test_a_listed_fallback_answers_and_says_so():
    a, b = Scripted("a", failure(), failure()), Scripted("b")
    embed, _ = service(a=a, b=b)
    result = await embed.embed(request(model="a/small", fallbacks=["b/fixed"]))
    assert result.model.id == "b/fixed"
    assert result.fallback == "a/small -> b/fixed"
    assert b.calls == [(["hello", "hi"], "fixed", None)]


@pytest.mark.parametrize(
    ("body", "error", "param"),
    [
        ({"model": "a/chat"}, InvalidRequest, "model"),
        ({"model": "small", "fallbacks": ["a/chat"]}, InvalidRequest, "fallbacks[0]"),
        ({"model": "small", "fallbacks": ["nope"]}, UnknownModel, "fallbacks[0]"),
        ({"model": "b/fixed", "dimensions": 4}, InvalidRequest, "dimensions"),
        ({"model": "a/small", "dimensions": 9}, InvalidRequest, "dimensions"),
        ({"model": "nope"}, UnknownModel, "model"),
    ],
)
async def test_requests_no_model_can_serve_are_refused_naming_the_field(body, error, param):
    embed, _ = service(a=Scripted("a"), b=Scripted("b"))
    with pytest.raises(error) as info:
        await embed.embed(request(**body))
    assert info.value.param == param and 400 <= info.value.status < 500


async def test_a_model_of_an_unconfigured_provider_is_no_candidate():
    embed, _ = service(a=Scripted("a"))
    with pytest.raises(NoCandidates) as info:
        await embed.embed(request(model="b/fixed"))
    assert info.value.param == "model" and "provider_not_configured" in info.value.message


async def test_metrics_count_the_answer_and_each_failure():
    embed, metrics = service(a=Scripted("a", failure()))
    await embed.embed(request(model="a/small"))
    counts = {key[0]: dict(c) for key, c in metrics._pending.items()}
    assert counts["a/small"]["count"] == 2 and counts["a/small"]["errors"] == 1
    assert counts["a/small"]["prompt_tokens"] == 14
