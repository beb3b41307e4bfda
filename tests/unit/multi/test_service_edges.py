"""Multi-generate edges: the all-failed error, the judge's reserve, merge notes, observer."""

from __future__ import annotations

from typing import Any

import pytest

from orchestra.catalog.models import Catalog, ModelInfo
from orchestra.catalog.source import CatalogSource
from orchestra.errors import AllModelsFailed, ServerError
from orchestra.multi.service import Limits, _all_failed, aux_reserve_s
from orchestra.panel.fanout import FanOutResult, ModelRun
from orchestra.resilience.breaker import BreakerPolicy, CircuitBreaker
from orchestra.resilience.fallback import Attempt
from orchestra.schemas.chat import AssistantMessage, ChatRequest, ChatResponse, Choice, Usage

from support.multi import (
    JUDGE,
    MODELS,
    A,
    B,
    C,
    P,
    Recorder,
    by_model,
    multi_request,
    multi_service,
)
from support.scripted import ScriptedProvider


def _info(name: str) -> ModelInfo:
    return ModelInfo(
        id=f"{P}/{name}", context_window=8000, input_price=0, output_price=0, quality=1300
    )


@pytest.mark.parametrize(
    ("deadline", "reserve"),
    [(10, 4.0), (25, 10.0), (40, 10.0), (100, 25.0), (1000, 120.0)],
)
def test_aux_reserve_is_40_percent_floored_at_10_s_capped_at_120_s(
    deadline: float, reserve: float
) -> None:
    assert aux_reserve_s(deadline) == reserve


def test_all_failed_lists_each_model_and_invents_attempts_only_where_none_ran() -> None:
    # Given a model that failed without attempts, one cancelled, one with its own attempts
    boom = ServerError("down", provider=P, model=f"{P}/a", upstream_status=503)
    failed = ModelRun(_info("a"), status="error", error=boom)
    cancelled = ModelRun(_info("b"), status="cancelled")
    own = [Attempt(f"{P}/c", P, "RateLimited 429", 12.0)]
    tried = ModelRun(_info("c"), status="error", error=boom, attempts=own)
    result = FanOutResult([failed, cancelled, tried], [failed, tried], False, False)
    # When the error is built
    error = _all_failed(result, str.upper)
    # Then the message names every model and why, through the scrubber
    assert isinstance(error, AllModelsFailed)
    assert error.message == (
        f"EVERY MODEL FAILED ({P.upper()}/A: SERVERERROR 503; "
        f"{P.upper()}/B: CANCELLED; {P.upper()}/C: SERVERERROR 503)"
    )
    assert error.attempts == [
        Attempt(f"{P}/a", P, "ServerError 503", 0.0),
        Attempt(f"{P}/b", P, "cancelled", 0.0),
        *own,
    ]
    assert _all_failed(result, str).message.startswith(f"Every model failed ({P}/a: ")


async def test_an_unstreamed_request_is_capped_by_deadline_s_not_the_stream_cap() -> None:
    # Given a 0.2 s cap for plain requests and a long one for streamed requests
    provider = ScriptedProvider(P)
    provider.enqueue("gpt-a", "42")
    provider.enqueue("claude-b", 2.0, "42")
    service = multi_service(provider, deadline=0.2)
    service.limits = Limits(max_models=6, default_count=3, deadline_s=0.2, stream_deadline_s=5.0)
    # When a plain (not streamed) request runs
    response = await service.run(multi_request(models=[A, B]))
    # Then the slow model is cut off by the short cap
    late = by_model(response)[B]
    assert late.status == "error"
    assert late.error.message == f"{B}: the request's deadline ended first"
    assert late.error.code == "model_timeout"


async def test_the_fan_out_leaves_the_judges_reserve_of_the_deadline() -> None:
    # Given a 1 s deadline: 0.4 s is kept for the judge, so the fan-out gets 0.6 s
    provider = ScriptedProvider(P)
    provider.enqueue("gpt-a", "42")
    provider.enqueue("claude-b", 0.8, "41")
    # When one model needs 0.8 s
    response = await multi_service(provider, deadline=1.0).run(
        multi_request(models=[A, B], strategy="judge")
    )
    # Then it is cut off and the lone answer wins by vote, without a judge call
    assert by_model(response)[B].status == "error"
    assert response.fusion.note == "only one answer arrived: vote decided"
    assert response.winner == A


async def test_the_judges_breaker_is_read_with_the_panels() -> None:
    # Given the best judge's breaker opened by another instance sharing the store
    provider = ScriptedProvider(P)
    service = multi_service(provider)
    other = CircuitBreaker(service.selector.breaker._backend, BreakerPolicy(failure_threshold=3))
    for _ in range(3):
        await other.record_failure(JUDGE)
    provider.enqueue("gpt-a", "42")
    provider.enqueue("claude-b", "41")
    provider.enqueue("gpt-e", '{"best": 1, "reason": "right"}')
    # When a judged request runs
    response = await service.run(multi_request(models=[A, B], strategy="judge"))
    # Then the next best model judges
    assert response.fusion.judge is not None
    assert response.fusion.judge.model == f"{P}/gpt-e"
    assert "gemini-judge" not in [m for m, _ in provider.calls]


async def test_a_failed_judge_reports_its_error() -> None:
    provider = ScriptedProvider(P)
    provider.enqueue("gpt-a", "42")
    provider.enqueue("claude-b", "41")
    boom = ServerError("judge down", provider=P, model="gemini-judge", upstream_status=500)
    provider.enqueue("gemini-judge", boom, boom)
    response = await multi_service(provider).run(multi_request(models=[A, B], strategy="judge"))
    judge = response.fusion.judge
    assert judge is not None and judge.error is not None
    assert judge.error.code == "upstream_server_error" and judge.error.status == 502
    assert response.fusion.note == f"judge {JUDGE} failed (ServerError 500): vote decided"


async def test_merge_without_synthesiser_when_all_agree_keeps_the_sections_note() -> None:
    provider = ScriptedProvider(P)
    provider.enqueue("gpt-a", "42")
    provider.enqueue("claude-b", "42")
    response = await multi_service(provider).run(
        multi_request(models=[A, B], strategy="merge", synthesizer="none")
    )
    assert response.fusion.note == "every model gave the same answer: it is returned as is"
    assert response.choices[0].message.content == "42"


async def test_a_synthesis_keeps_the_clients_output_limit_and_the_majoritys_agreement() -> None:
    # Given a 2:1 split and a client limit of 77 output tokens
    provider = ScriptedProvider(P)
    provider.enqueue("gpt-a", 0.01, "Use a queue.")
    provider.enqueue("claude-b", 0.02, "Use a queue.")
    provider.enqueue("gemini-c", 0.03, "Add a cache in front of the database.")
    provider.enqueue("gemini-judge", "Use a queue and a cache.")
    # When merged by the synthesiser
    response = await multi_service(provider).run(
        multi_request(models=[A, B, C], strategy="merge", max_tokens=77)
    )
    # Then the synthesis request keeps the limit and the agreement is the first cluster's
    assert provider.requests[-1].max_tokens == 77
    assert response.choices[0].message.content == "Use a queue and a cache."
    assert response.agreement == pytest.approx(0.6667, abs=1e-4)
    assert [c.share for c in response.fusion.clusters] == [0.6667, 0.3333]


async def test_an_empty_synthesis_falls_back_to_sections_naming_the_error() -> None:
    provider = ScriptedProvider(P)
    provider.enqueue("gpt-a", "Use a queue.")
    provider.enqueue("claude-b", "Add a cache in front of the database.")
    provider.enqueue("gemini-judge", "")
    response = await multi_service(provider).run(multi_request(models=[A, B], strategy="merge"))
    assert (
        response.fusion.note
        == f"synthesiser {JUDGE} failed (MalformedResponse): attributed sections"
    )


async def test_a_blank_synthesis_without_an_error_is_called_an_empty_answer() -> None:
    # Given a fan-out whose synthesiser call comes back "ok" but blank and without an error
    provider = ScriptedProvider(P)
    provider.enqueue("gpt-a", "Use a queue.")
    provider.enqueue("claude-b", "Add a cache in front of the database.")
    service = multi_service(provider)

    async def blank(model: ModelInfo, request: ChatRequest, budget: float) -> ModelRun:
        response = ChatResponse(
            model=model.id,
            choices=[Choice(message=AssistantMessage(content="  "))],
            usage=Usage.of(1, 1),
        )
        return ModelRun(model, status="ok", response=response)

    service.fanout.call = blank  # type: ignore[method-assign]
    response = await service.run(multi_request(models=[A, B], strategy="merge"))
    assert response.fusion.note == (
        f"synthesiser {JUDGE} failed (an empty answer): attributed sections"
    )


async def test_the_similarity_threshold_option_decides_the_clusters() -> None:
    provider = ScriptedProvider(P)
    provider.enqueue("gpt-a", "Use a queue.")
    provider.enqueue("claude-b", "Add a cache in front of the database.")
    response = await multi_service(provider).run(
        multi_request(models=[A, B], similarity_threshold=0.0)
    )
    assert len(response.fusion.clusters) == 1 and response.agreement == 1.0


async def test_a_long_answers_cluster_key_is_cut_at_200_characters() -> None:
    provider = ScriptedProvider(P)
    long = "word " * 100
    provider.enqueue("gpt-a", long)
    provider.enqueue("claude-b", long)
    response = await multi_service(provider).run(multi_request(models=[A, B]))
    assert len(response.fusion.clusters[0].key) == 200


async def test_the_observer_hears_the_number_of_models_and_the_cost() -> None:
    provider = ScriptedProvider(P)
    observer = Recorder()
    response = await multi_service(provider, observer=observer).run(
        multi_request(models=[A, B, "other/gpt-elsewhere"])
    )
    call: dict[str, Any] = observer.calls[0]
    assert call["models"] == 3 and call["answered"] == 2
    assert call["cost_usd"] == response.cost_usd == pytest.approx(4e-5)


async def test_a_models_cost_is_whole_nano_dollars_rounded_up() -> None:
    # Given a model whose price has more digits than a cost keeps
    provider = ScriptedProvider(P)
    odd = MODELS[0].model_copy(update={"input_price": 1.23456789123e-7, "output_price": 2.5e-7})
    service = multi_service(provider)
    service.catalog = CatalogSource(base=Catalog([odd, *MODELS[1:]]))
    # When it answers (10 prompt and 5 completion tokens)
    response = await service.run(multi_request(models=[A]))
    # Then its cost is 10 x 1.23456789123e-7 + 5 x 2.5e-7 = 2484.56789123 nano-dollars,
    # rounded up to the nano-dollar as the ledger counts it (catalog/pricing.py)
    assert by_model(response)[A].cost_usd == 0.000002485
    assert response.cost_usd == 0.000002485
