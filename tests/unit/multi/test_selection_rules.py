"""Multi-generate's selection and fusion rules at their edges (found by mutation testing)."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from typing import Any

import pytest

from orchestra.catalog.models import Catalog, ModelInfo
from orchestra.catalog.source import CatalogSource
from orchestra.errors import InvalidRequest, NoCandidates, ServerError
from orchestra.generate.service import Generate
from orchestra.multi.service import Limits, MultiGenerate
from orchestra.panel.fanout import FanOut
from orchestra.panel.selection import Selector
from orchestra.providers.registry import Registry
from orchestra.resilience.breaker import BreakerPolicy, CircuitBreaker
from orchestra.resilience.retry import RetryPolicy
from orchestra.routing.router import Router
from orchestra.schemas.chat import ChatChunk, ChunkChoice, Delta
from orchestra.schemas.multi import MultiGenerateRequest
from orchestra.storage.memory import MemoryBreakerBackend, MemoryMetricsBackend
from orchestra.storage.model_stats import MetricsRecorder

from support.scripted import ScriptedProvider

P = "scripted"


def _model(name: str, quality: float, latency_ms: float, provider: str = P) -> ModelInfo:
    return ModelInfo(
        id=f"{provider}/{name}",
        context_window=100_000,
        input_price=1e-6,
        output_price=2e-6,
        quality=quality,
        latency_ms=latency_ms,
        tokens_per_s=100,
    )


MODELS = [
    _model("openai-smart", 1500, 3000),
    _model("anthropic-mid", 1350, 900),
    _model("google-fast", 1150, 60),
    _model("meta-other", 1250, 800),
    _model("outside", 1400, 100, provider="other"),
]
SMART, MID, FAST, OTHER = (
    f"{P}/{n}" for n in ("openai-smart", "anthropic-mid", "google-fast", "meta-other")
)
OUTSIDE = "other/outside"


def _service(provider: ScriptedProvider, max_models: int = 3) -> MultiGenerate:
    generate = Generate(
        catalog=CatalogSource(base=Catalog(MODELS)),
        registry=Registry({P: provider}, {}),
        router=Router({P}, max_candidates=4),
        breaker=CircuitBreaker(MemoryBreakerBackend(), BreakerPolicy(failure_threshold=1)),
        metrics=MetricsRecorder(MemoryMetricsBackend()),
        retry=RetryPolicy(attempts_per_model=1, rng=random.Random(1)),
    )
    limits = Limits(max_models=max_models, default_count=2, deadline_s=5)
    selector = Selector(generate.router, generate.breaker, max_models=max_models, default_count=2)
    return MultiGenerate(
        catalog=generate.catalog,
        selector=selector,
        fanout=FanOut(generate.registry, generate.runner, generate.metrics),
        metrics=generate.metrics,
        limits=limits,
    )


def _request(**options: Any) -> MultiGenerateRequest:
    messages = [{"role": "user", "content": "What is 6 times 7?"}]
    return MultiGenerateRequest.from_body({"messages": messages, **options})


async def test_the_profile_picks_the_models_whether_given_as_option_or_model() -> None:
    service = _service(ScriptedProvider(P))
    quick = await service.run(_request(count=1, profile="speed"))
    assert [r.model for r in quick.results] == [FAST]
    best = await service.run(_request(count=1, profile="quality"))
    assert [r.model for r in best.results] == [SMART]
    routed = await service.run(_request(count=1, model="auto:speed"))
    assert [r.model for r in routed.results] == [FAST]
    with pytest.raises(InvalidRequest) as caught:
        await service.run(_request(count=1, model=FAST))
    assert caught.value.param == "model"
    assert caught.value.message.startswith("multi-generate calls several models: name them in")


async def test_a_quorum_may_equal_the_count_but_not_exceed_it() -> None:
    service = _service(ScriptedProvider(P))
    response = await service.run(_request(count=2, quorum=2))
    assert len(response.results) == 2
    with pytest.raises(InvalidRequest) as caught:
        await service.run(_request(quorum=3))  # the default count is 2
    assert caught.value.param == "quorum"


async def test_more_models_than_allowed_names_the_parameter() -> None:
    service = _service(ScriptedProvider(P), max_models=2)
    with pytest.raises(InvalidRequest) as named:
        await service.run(_request(models=[SMART, MID, FAST]))
    assert named.value.param == "models" and "at most 2 models" in named.value.message
    with pytest.raises(InvalidRequest) as counted:
        await service.run(_request(count=3))
    assert counted.value.param == "count"


async def test_named_models_none_of_which_can_serve_is_a_400_on_models() -> None:
    with pytest.raises(NoCandidates) as caught:
        await _service(ScriptedProvider(P)).run(_request(models=[OUTSIDE]))
    assert caught.value.status == 400 and caught.value.param == "models"


async def test_fewer_models_than_asked_are_called_and_the_response_says_so() -> None:
    provider = ScriptedProvider(P)
    service = _service(provider)
    await service.selector.breaker.record_failure(SMART)  # threshold 1: open
    await service.selector.breaker.record_failure(MID)
    response = await service.run(_request(count=3))
    assert {r.model for r in response.results} == {FAST, OTHER}
    assert response.fusion.note is not None
    assert "asked for 3 models; only 2 can serve this request now" in response.fusion.note


async def test_a_judge_with_one_answer_or_none_available_leaves_it_to_the_vote() -> None:
    provider = ScriptedProvider(P)
    provider.enqueue("openai-smart", ServerError("down", provider=P, model=SMART))
    one = await _service(provider).run(_request(models=[SMART, MID], strategy="judge"))
    assert one.fusion.applied == "vote"
    assert one.fusion.note == "only one answer arrived: vote decided"
    service = _service(ScriptedProvider(P))
    for model in (SMART, MID):  # the judges it could use besides the participants
        await service.selector.breaker.record_failure(model)
    none = await service.run(_request(models=[FAST, OTHER], strategy="judge"))
    assert none.fusion.note == "no judge model available: vote decided"


async def test_the_default_judge_is_the_best_model_not_answering() -> None:
    provider = ScriptedProvider(P)
    provider.enqueue("google-fast", "42")
    provider.enqueue("meta-other", "41")
    provider.enqueue("openai-smart", '{"best": 2, "reason": "checked"}')
    response = await _service(provider).run(_request(models=[FAST, OTHER], strategy="judge"))
    assert response.fusion.judge is not None and response.fusion.judge.model == SMART
    assert response.winner == OTHER


async def test_merge_with_two_different_answers_and_no_synthesiser_says_so() -> None:
    provider = ScriptedProvider(P)
    provider.enqueue("google-fast", "Use a queue.")
    provider.enqueue("meta-other", "Add a cache in front of the database.")
    response = await _service(provider).run(
        _request(models=[FAST, OTHER], strategy="merge", synthesizer="none")
    )
    assert response.fusion.note == "no synthesiser: attributed sections"
    assert response.fusion.synthesizer is None


async def test_a_named_synthesiser_is_used_even_when_better_ones_exist() -> None:
    provider = ScriptedProvider(P)
    provider.enqueue("openai-smart", "Use a queue.")
    provider.enqueue("anthropic-mid", "Add a cache.")
    provider.enqueue("google-fast", "Use a queue and add a cache.")
    service = _service(provider)
    named = await service.run(_request(models=[SMART, MID], strategy="merge", synthesizer=FAST))
    assert named.fusion.synthesizer is not None and named.fusion.synthesizer.model == FAST


async def test_an_auto_synthesiser_is_the_best_model_whose_breaker_is_closed() -> None:
    provider = ScriptedProvider(P)
    provider.enqueue("anthropic-mid", "Use a queue.")
    provider.enqueue("google-fast", "Add a cache.")
    service = _service(provider)
    await service.selector.breaker.record_failure(SMART)  # the best model is unavailable
    auto = await service.run(_request(models=[MID, FAST], strategy="merge", synthesizer="auto"))
    assert auto.fusion.synthesizer is not None and auto.fusion.synthesizer.model == MID


async def test_a_named_synthesiser_is_tried_even_with_its_breaker_open() -> None:
    provider = ScriptedProvider(P)
    provider.enqueue("openai-smart", "Use a queue.")
    provider.enqueue("anthropic-mid", "Add a cache.")
    service = _service(provider)
    await service.selector.breaker.record_failure(FAST)
    response = await service.run(_request(models=[SMART, MID], strategy="merge", synthesizer=FAST))
    assert response.fusion.synthesizer is not None and response.fusion.synthesizer.model == FAST


async def test_a_model_not_called_is_reported_as_a_request_problem() -> None:
    response = await _service(ScriptedProvider(P)).run(_request(models=[FAST, OUTSIDE]))
    skipped = next(r for r in response.results if r.model == OUTSIDE)
    assert skipped.status == "skipped" and skipped.error is not None
    assert skipped.error.type == "invalid_request_error" and skipped.error.status == 400


class Truncating(ScriptedProvider):
    """Streams cut off by max_tokens, from a vendor that reports no usage."""

    async def stream(self, request: Any, model: str, options: Any) -> AsyncIterator[ChatChunk]:
        self.requests.append(request)
        text = await self._next(model, options)
        yield ChatChunk(id="c1", model=model, choices=[ChunkChoice(delta=Delta(content=text))])
        done = ChunkChoice(delta=Delta(), finish_reason="length")
        yield ChatChunk(id="c1", model=model, choices=[done])


async def test_the_winners_finish_reason_and_estimated_usage_are_reported() -> None:
    provider = Truncating(P)
    provider.enqueue("google-fast", "forty-two is the answer")
    provider.enqueue("meta-other", "forty-two is the answer")
    response = await _service(provider).run(_request(models=[FAST, OTHER]))
    assert response.choices[0].finish_reason == "length"
    for result in response.results:
        assert result.finish_reason == "length" and result.usage_estimated
        assert result.usage is not None and result.usage.prompt_tokens > 0
        assert result.usage.completion_tokens > 0 and result.cost_usd > 0


async def test_latencies_are_reported_to_the_hundredth_of_a_millisecond() -> None:
    provider = ScriptedProvider(P)
    provider.enqueue("google-fast", 0.0123, "Use a queue.")
    provider.enqueue("meta-other", 0.0171, "Add a cache.")
    provider.enqueue("openai-smart", 0.0137, "Both.")
    response = await _service(provider).run(_request(models=[FAST, OTHER], strategy="merge"))
    assert response.fusion.synthesizer is not None
    figures = [response.latency_ms, response.fusion.synthesizer.latency_ms]
    figures += [r.latency_ms for r in response.results]
    assert all(f is not None and f > 10 and f == round(f, 2) for f in figures)
    assert response.fusion.synthesizer.cost_usd > 0  # its own call, billed to 1e-10 USD
