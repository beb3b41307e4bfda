"""The local simulator: deterministic per seed, models that disagree, injectable faults."""

from __future__ import annotations

import pytest

from orchestra.errors import ProviderError, ProviderTimeout
from orchestra.providers.base import CallOptions, ProviderConfig
from orchestra.schemas.chat import ChatRequest
from orchestra.simulator import SIMULATED_MODELS, SimulatorProvider, solve_arithmetic

QUESTIONS = [f"What is {a} * {b}?" for a in range(3, 13) for b in (7, 13)]


def _provider(**options: float | int | str) -> SimulatorProvider:
    return SimulatorProvider(
        ProviderConfig(name="simulator", type="simulator", options={"latency_scale": 0, **options})
    )


def _ask(text: str) -> ChatRequest:
    return ChatRequest(model="auto", messages=[{"role": "user", "content": text}])


@pytest.mark.parametrize(("text", "value"), [("What is 17 * 23?", 391), ("2 + 2", 4), ("hi", None)])
def test_arithmetic_is_solved(text, value):
    assert solve_arithmetic(text) == value


async def test_same_seed_same_answers_other_seed_differs():
    a, b, c = _provider(seed=1), _provider(seed=1), _provider(seed=2)
    answers = {}
    for name, provider in {"a": a, "b": b, "c": c}.items():
        answers[name] = [
            (await provider.complete(_ask(q), "sim-small", CallOptions())).text() for q in QUESTIONS
        ]
    assert answers["a"] == answers["b"]
    assert answers["a"] != answers["c"]


async def test_models_sometimes_disagree_and_the_strong_one_is_mostly_right():
    provider = _provider(seed=7)
    right = {m: 0 for m in SIMULATED_MODELS}
    disagreements = 0
    for question in QUESTIONS:
        truth = f"The answer is {solve_arithmetic(question):g}."
        texts = {
            m: (await provider.complete(_ask(question), m, CallOptions())).text()
            for m in SIMULATED_MODELS
        }
        disagreements += len(set(texts.values())) > 1
        for model, text in texts.items():
            right[model] += text == truth
    assert disagreements > 0
    assert right["sim-large"] > right["sim-small"]


async def test_failure_rate_injects_typed_retryable_errors():
    provider = _provider(failure_rate=0.5)
    failures = 0
    for i in range(100):
        try:
            await provider.complete(_ask(f"q{i}"), "sim-medium", CallOptions())
        except ProviderError as exc:
            failures += 1
            assert exc.retryable and exc.upstream_status in (429, 500, 503, 504)
    assert 30 <= failures <= 70


async def test_latency_beyond_the_budget_is_a_timeout():
    provider = _provider(latency_scale=100.0)
    with pytest.raises(ProviderTimeout):
        await provider.complete(_ask("hello"), "sim-large", CallOptions(timeout=0.05))


async def test_stream_follows_the_chunk_convention():
    from support.replay import assert_chunk_convention, collect, text_of

    provider = _provider()
    chunks = await collect(provider.stream(_ask("What is 6 * 7?"), "sim-large", CallOptions()))
    assert_chunk_convention(chunks)
    assert text_of(chunks).startswith("The answer is")
