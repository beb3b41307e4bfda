"""Multi-generate end to end over scripted models: fan-out, failures, cancellation, fusion."""

from __future__ import annotations

import time
from typing import Any

import pytest

from orchestra.errors import AllModelsFailed, InvalidRequest, ServerError

from support.multi import JUDGE, A, B, C, D, E, P, Recorder, by_model, multi_request, multi_service
from support.scripted import ScriptedProvider


async def test_fan_out_is_parallel_total_close_to_the_slowest() -> None:
    # Given four models that each take 0.3 s
    provider = ScriptedProvider(P)
    for model in ("gpt-a", "claude-b", "gemini-c", "llama-d"):
        provider.enqueue(model, 0.3, "42")
    started = time.perf_counter()
    # When they are fanned out to
    response = await multi_service(provider).run(multi_request(models=[A, B, C, D]))
    elapsed = time.perf_counter() - started
    # Then the whole request takes about one model's time, not four
    assert 0.3 <= elapsed < 0.6
    assert all(r.status == "ok" and r.latency_ms >= 290 for r in response.results)
    assert response.agreement == 1.0


async def test_vote_groups_numeric_answers_phrased_differently() -> None:
    provider = ScriptedProvider(P)
    provider.enqueue("gpt-a", "The answer is 42.")
    provider.enqueue("claude-b", "42")
    provider.enqueue("gemini-c", "**42**")
    provider.enqueue("llama-d", "I believe the answer is 41.")
    response = await multi_service(provider).run(multi_request(models=[A, B, C, D]))
    assert response.strategy == "vote" and response.fusion.applied == "vote"
    assert response.agreement == 0.75
    assert response.winner in (A, B, C)
    assert response.choices[0].message.content in ("The answer is 42.", "42", "**42**")
    assert response.model == response.winner
    clusters = response.fusion.clusters
    assert clusters[0].key == "num:42" and sorted(clusters[0].models) == sorted([A, B, C])
    assert clusters[1].models == [D]
    results = by_model(response)
    assert results[D].cluster == 1 and results[A].cluster == 0
    # three independent makers agree against one dissenter
    assert 0.8 < response.confidence < 1.0


async def test_partial_failures_still_fuse_and_are_reported_per_model() -> None:
    # Given one model that 500s (every retry) and one that never answers in time
    provider = ScriptedProvider(P)
    boom = ServerError("upstream 500", provider=P, model="gpt-a", upstream_status=500)
    provider.enqueue("gpt-a", boom, boom)
    provider.enqueue("claude-b", 5.0)
    provider.enqueue("gemini-c", "Canberra")
    provider.enqueue("llama-d", "The capital of Australia is Canberra.")
    # When fanned out with a 1.3 s per-model budget (room for one retry)
    response = await multi_service(provider).run(multi_request(models=[A, B, C, D], timeout_s=1.3))
    # Then the two answers are fused and the two failures are listed with their errors
    results = by_model(response)
    assert results[A].status == "error" and results[A].error.code == "upstream_server_error"
    assert len(results[A].attempts) == 2  # retried once within its budget
    assert results[B].status == "error" and results[B].error.status == 504
    assert 1250 < results[B].latency_ms < 2000
    assert response.agreement == 1.0 and response.winner in (C, D)
    assert response.usage.total_tokens == 30  # two answers x 15; failures billed nothing


async def test_every_model_failing_is_a_502_listing_each() -> None:
    provider = ScriptedProvider(P)
    for model in ("gpt-a", "claude-b"):
        boom = ServerError("down", provider=P, model=model, upstream_status=503)
        provider.enqueue(model, boom, boom)
    with pytest.raises(AllModelsFailed) as caught:
        await multi_service(provider).run(multi_request(models=[A, B]))
    assert caught.value.status == 502
    assert A in caught.value.message and B in caught.value.message
    assert {a.model for a in caught.value.attempts} == {A, B}


async def test_first_returns_the_first_answer_and_cancels_the_rest() -> None:
    provider = ScriptedProvider(P)
    provider.enqueue("gpt-a", 3.0, "slow")
    provider.enqueue("claude-b", 0.05, "The answer is 42.")
    provider.enqueue("gemini-c", 3.0, "slow")
    started = time.perf_counter()
    response = await multi_service(provider).run(multi_request(models=[A, B, C], strategy="first"))
    assert time.perf_counter() - started < 1.0
    assert response.winner == B and response.fusion.applied == "first"
    results = by_model(response)
    assert results[A].status == results[C].status == "cancelled"
    assert sorted(provider.cancelled) == ["gemini-c", "gpt-a"]
    # cancelled calls bill only the prompt they were sent (an estimate, marked so)
    assert results[A].usage_estimated and results[A].usage.completion_tokens == 0
    assert response.confidence == pytest.approx(0.55 + 0.35 * (1380 - 1100) / 400)


async def test_vote_quorum_stops_once_k_answers_agree() -> None:
    provider = ScriptedProvider(P)
    provider.enqueue("gpt-a", 0.02, "42")
    provider.enqueue("claude-b", 0.05, "The answer is 42")
    provider.enqueue("gemini-c", 3.0, "41")
    started = time.perf_counter()
    response = await multi_service(provider).run(multi_request(models=[A, B, C], quorum=2))
    assert time.perf_counter() - started < 1.0
    assert response.fusion.quorum_reached is True
    assert by_model(response)[C].status == "cancelled"
    assert provider.cancelled == ["gemini-c"]


async def test_vote_quorum_waits_while_the_answers_disagree() -> None:
    provider = ScriptedProvider(P)
    provider.enqueue("gpt-a", 0.02, "42")
    provider.enqueue("claude-b", 0.04, "41")
    provider.enqueue("gemini-c", 0.1, "forty-two")
    provider.enqueue("llama-d", 3.0, "40")
    response = await multi_service(provider).run(multi_request(models=[A, B, C, D], quorum=2))
    results = by_model(response)
    assert [results[m].status for m in (A, B, C, D)] == ["ok", "ok", "ok", "cancelled"]
    assert response.winner in (A, C) and response.agreement == pytest.approx(2 / 3, abs=1e-4)


async def test_rank_quorum_stops_after_k_answers() -> None:
    provider = ScriptedProvider(P)
    provider.enqueue("gpt-a", 0.02, "one")
    provider.enqueue("claude-b", 0.04, "two")
    provider.enqueue("gemini-c", 3.0, "three")
    response = await multi_service(provider).run(
        multi_request(models=[A, B, C], strategy="rank", quorum=2)
    )
    results = by_model(response)
    assert results[C].status == "cancelled" and response.fusion.quorum_reached
    assert results[A].score is not None and results[B].score is not None
    assert response.winner == max((A, B), key=lambda m: results[m].score)


async def test_overall_deadline_cancels_what_is_still_running() -> None:
    provider = ScriptedProvider(P)
    provider.enqueue("gpt-a", "42")
    provider.enqueue("claude-b", 3.0, "42")
    service = multi_service(provider)
    started = time.perf_counter()
    response = await service.run(multi_request(models=[A, B], timeout_s=10, deadline_s=0.3))
    assert time.perf_counter() - started < 1.0
    late = by_model(response)[B]
    assert late.status == "error" and late.error.status == 504
    assert "deadline" in late.error.message


async def test_judge_picks_an_answer_shown_anonymously() -> None:
    provider = ScriptedProvider(P)
    provider.enqueue("gpt-a", 0.01, "The answer is 41.")
    provider.enqueue("claude-b", 0.05, "42, since 6 x 7 = 42.")
    provider.enqueue("gemini-judge", '```json\n{"best": 2, "reason": "6 x 7 is 42."}\n```')
    response = await multi_service(provider).run(multi_request(models=[A, B], strategy="judge"))
    assert response.fusion.applied == "judge" and response.winner == B
    judge = response.fusion.judge
    assert judge is not None and judge.model == JUDGE  # best quality, not a candidate
    assert judge.picked == B and judge.reason == "6 x 7 is 42."
    prompt = provider.requests[-1].messages[-1].text()
    assert "The answer is 41." in prompt and A not in prompt and B not in prompt
    # the judge's own call is billed in the totals
    assert response.usage.total_tokens == 45
    # a lone model agreed with by the judge is more certain than the model alone
    assert response.confidence > 0.55 + 0.35 * (1380 - 1100) / 400


async def test_a_failing_judge_falls_back_to_vote() -> None:
    provider = ScriptedProvider(P)
    provider.enqueue("gpt-a", "42")
    provider.enqueue("claude-b", "42")
    provider.enqueue("gemini-c", "41")
    boom = ServerError("judge down", provider=P, model="gemini-judge", upstream_status=500)
    provider.enqueue("gemini-judge", boom, boom)
    response = await multi_service(provider).run(multi_request(models=[A, B, C], strategy="judge"))
    assert response.strategy == "judge" and response.fusion.applied == "vote"
    assert "judge scripted/gemini-judge failed" in (response.fusion.note or "")
    assert response.fusion.judge is not None and response.fusion.judge.status == "error"
    assert response.winner in (A, B)


async def test_an_unreadable_verdict_falls_back_to_vote() -> None:
    provider = ScriptedProvider(P)
    provider.enqueue("gpt-a", "42")
    provider.enqueue("claude-b", "41")
    provider.enqueue("gemini-judge", "They are both fine answers.")
    response = await multi_service(provider).run(multi_request(models=[A, B], strategy="judge"))
    assert response.fusion.applied == "vote"
    assert "no readable verdict" in (response.fusion.note or "")


async def test_a_named_judge_is_used() -> None:
    provider = ScriptedProvider(P)
    provider.enqueue("gpt-a", "42")
    provider.enqueue("claude-b", "41")
    provider.enqueue("llama-d", '{"best": 1, "reason": "right"}')
    response = await multi_service(provider).run(
        multi_request(models=[A, B], strategy="judge", judge="llama-d")
    )
    assert response.fusion.judge is not None and response.fusion.judge.model == D


async def test_merge_by_a_synthesiser_says_which() -> None:
    provider = ScriptedProvider(P)
    provider.enqueue("gpt-a", "Use a queue.")
    provider.enqueue("claude-b", "Add a cache in front of the database.")
    provider.enqueue("gemini-judge", "Use a queue, and add a cache in front of the database.")
    response = await multi_service(provider).run(multi_request(models=[A, B], strategy="merge"))
    assert response.model == "orchestra/fusion:merge" and response.winner is None
    assert response.choices[0].message.content.startswith("Use a queue, and add a cache")
    assert response.fusion.synthesizer is not None
    assert response.fusion.synthesizer.model == JUDGE
    assert response.fusion.note == f"merged by {JUDGE}"


async def test_merge_without_a_synthesiser_gives_attributed_sections() -> None:
    provider = ScriptedProvider(P)
    provider.enqueue("gpt-a", 0.01, "Use a queue.")
    provider.enqueue("claude-b", 0.02, "Use a queue.")
    provider.enqueue("gemini-c", 0.03, "Add a cache in front of the database.")
    response = await multi_service(provider).run(
        multi_request(models=[A, B, C], strategy="merge", synthesizer="none")
    )
    text = response.choices[0].message.content or ""
    assert text.index(f"### Consensus (2 of 3: {A}, {B})") < text.index(f"### Answer (1 of 3: {C})")
    assert "Add a cache" in text and response.fusion.synthesizer is None


async def test_merge_when_all_agree_makes_no_extra_call() -> None:
    provider = ScriptedProvider(P)
    provider.enqueue("gpt-a", "42")
    provider.enqueue("claude-b", "42")
    response = await multi_service(provider).run(multi_request(models=[A, B], strategy="merge"))
    assert len(provider.requests) == 2
    assert response.choices[0].message.content == "42"


async def test_count_picks_diverse_makers_for_the_profile() -> None:
    provider = ScriptedProvider(P)
    response = await multi_service(provider).run(multi_request(count=3, profile="quality"))
    called = [r.model for r in response.results]
    # gpt-e outranks claude-b and gemini-c on quality, but gpt-a already speaks for OpenAI
    assert E not in called and len(called) == 3
    assert len({m.split("/")[1].split("-")[0] for m in called}) == 3


async def test_named_models_that_cannot_be_called_are_reported_skipped() -> None:
    provider = ScriptedProvider(P)
    response = await multi_service(provider).run(multi_request(models=[A, "other/gpt-elsewhere"]))
    skipped = by_model(response)["other/gpt-elsewhere"]
    assert skipped.status == "skipped" and skipped.error.code == "provider_not_configured"


async def test_usage_cost_and_metrics_are_accounted() -> None:
    provider = ScriptedProvider(P)
    observer = Recorder()
    service = multi_service(provider, observer=observer)
    response = await service.run(multi_request(models=[A, B]))
    assert response.usage.total_tokens == sum(r.usage.total_tokens for r in response.results)
    assert response.cost_usd == pytest.approx(sum(r.cost_usd for r in response.results))
    assert response.cost_usd == pytest.approx(2 * (10 * 1e-6 + 5 * 2e-6))
    assert service.metrics.observed_latency_ms(A) is not None
    assert observer.calls[0]["strategy"] == "vote" and observer.calls[0]["answered"] == 2


@pytest.mark.parametrize(
    ("options", "param"),
    [({"stream": True}, "stream"), ({"tools": [{"type": "function"}]}, "tools")],
)
async def test_streaming_and_tools_are_refused_clearly(options: dict[str, Any], param: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        await multi_service(ScriptedProvider(P)).run(multi_request(models=[A, B], **options))
    assert caught.value.param == param


async def test_an_empty_answer_is_reported_and_not_voted_on() -> None:
    provider = ScriptedProvider(P)
    provider.enqueue("gpt-a", "")
    provider.enqueue("claude-b", "")
    provider.enqueue("gemini-c", "42")
    response = await multi_service(provider).run(multi_request(models=[A, B, C]))
    results = by_model(response)
    assert results[A].status == "error" and results[A].error.code == "empty_answer"
    assert response.winner == C and response.agreement == 1.0
    assert response.usage.total_tokens == 45  # the empty answers were still billed


async def test_a_named_model_with_an_open_breaker_is_skipped_and_all_open_is_503() -> None:
    from orchestra.errors import NoCandidates

    provider = ScriptedProvider(P)
    service = multi_service(provider)
    for _ in range(3):  # the breaker's threshold
        await service.selector.breaker.record_failure(A)
    response = await service.run(multi_request(models=[A, B]))
    skipped = by_model(response)[A]
    assert skipped.status == "skipped" and skipped.error.code == "breaker_open"
    assert [m for m, _ in provider.calls] == ["claude-b"]
    with pytest.raises(NoCandidates) as caught:
        await service.run(multi_request(models=[A]))
    assert caught.value.status == 503
