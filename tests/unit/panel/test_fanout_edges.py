"""The fan-out's edges: hard stops, client errors, adapter bugs, accounting, progress."""

from __future__ import annotations

import logging
import random
from typing import Any

import pytest

from orchestra.catalog.models import ModelInfo
from orchestra.errors import MalformedResponse, ProviderBadRequest, ProviderTimeout
from orchestra.panel.fanout import FanOut, ModelRun, Progress
from orchestra.panel.summary import summary
from orchestra.providers.registry import Registry
from orchestra.resilience.breaker import BreakerPolicy, CircuitBreaker
from orchestra.resilience.fallback import FallbackRunner
from orchestra.resilience.retry import Deadline, RetryPolicy
from orchestra.schemas.chat import (
    AssistantMessage,
    ChatChunk,
    ChatRequest,
    ChatResponse,
    Choice,
    ChunkChoice,
    Delta,
    Usage,
)
from orchestra.storage.memory import MemoryBreakerBackend
from orchestra.tokens import estimate_prompt_tokens

from support.scripted import ScriptedProvider, Stall

P = "fake"
REQUEST = ChatRequest.model_validate(
    {"model": "auto", "messages": [{"role": "user", "content": "What is 6 times 7?"}]}
)


def _model(name: str, streaming: bool = False) -> ModelInfo:
    return ModelInfo(
        id=f"{P}/{name}",
        context_window=100_000,
        input_price=1e-6,
        output_price=2e-6,
        quality=1300,
        capabilities=frozenset({"streaming"} if streaming else set()),
    )


class Metrics:
    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []

    def record(self, model_id: str, **kw: Any) -> None:
        self.records.append({"model": model_id, **kw})


def _provider() -> ScriptedProvider:
    """Every text answer uses 11 prompt and 7 completion tokens."""
    return ScriptedProvider(P, usage=Usage.of(11, 7))


def _fanout(provider: ScriptedProvider, runner: Any = None) -> tuple[FanOut, Metrics]:
    breaker = CircuitBreaker(MemoryBreakerBackend(), BreakerPolicy(failure_threshold=3))
    retry = RetryPolicy(attempts_per_model=1, base_delay_s=0.01, rng=random.Random(1))
    metrics = Metrics()
    runner = runner or FallbackRunner(breaker, retry)
    return FanOut(Registry({P: provider}, {}), runner, metrics), metrics  # type: ignore[arg-type]


async def test_a_model_that_ignores_its_budget_is_stopped_hard() -> None:
    # Given an adapter that stalls 2 s whatever timeout it is given
    model = _model("stuck")
    provider = _provider()
    provider.enqueue("stuck", Stall(2.0), "late")
    fanout, _ = _fanout(provider)
    # When it is called with a 0.05 s budget
    run = await fanout.call(model, REQUEST, 0.05)
    # Then the hard stop ends it (budget + grace) as a timeout naming the model
    assert run.status == "error"
    assert isinstance(run.error, ProviderTimeout)
    assert run.error.code == "model_timeout"
    assert run.error.message == f"{P}/stuck: no answer within 0.05 s"
    assert run.error.model == model.id and run.error.provider == P
    assert 250 <= run.latency_ms < 1000


async def test_a_client_error_the_vendor_reported_is_the_runs_error() -> None:
    # Given a vendor that refuses the request (no fallback, no retry)
    refused = ProviderBadRequest("bad field", provider=P, model=f"{P}/strict")
    provider = _provider()
    provider.enqueue("strict", refused)
    fanout, metrics = _fanout(provider)
    # When it is called
    run = await fanout.call(_model("strict"), REQUEST, 1.0)
    # Then the run carries that very error, and no successful call is recorded
    assert run.status == "error" and run.error is refused
    assert metrics.records == []


async def test_an_unexpected_exception_costs_one_model_and_is_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Given a runner with a bug
    class Broken:
        async def run(self, *args: Any) -> Any:
            raise RuntimeError("bug")

    model = _model("buggy")
    fanout, _ = _fanout(_provider(), runner=Broken())
    # When the model is called
    with caplog.at_level(logging.ERROR, logger="orchestra.panel"):
        run = await fanout.call(model, REQUEST, 1.0)
    # Then the run is an error naming the model and the bug is logged with its traceback
    assert run.status == "error"
    assert isinstance(run.error, MalformedResponse)
    assert run.error.message == f"unexpected failure calling {P}/buggy"
    assert run.error.provider == P and run.error.model == model.id
    logged = [r for r in caplog.records if r.name == "orchestra.panel"]
    assert [r.getMessage() for r in logged] == [f"unexpected failure calling {P}/buggy"]
    assert logged[0].exc_info is not None


async def test_a_successful_call_records_its_tokens_and_estimates_the_prompt() -> None:
    provider = _provider()
    provider.enqueue("ok", "42")
    fanout, metrics = _fanout(provider)
    run = await fanout.call(_model("ok"), REQUEST, 1.0)
    assert run.status == "ok" and run.text() == "42"
    assert run.prompt_tokens == estimate_prompt_tokens(REQUEST)
    assert run.usage() == (Usage.of(11, 7), False)
    [record] = metrics.records
    assert record["model"] == f"{P}/ok"
    assert record["prompt_tokens"] == 11 and record["completion_tokens"] == 7
    assert record["cost_usd"] == pytest.approx(11e-6 + 14e-6)
    assert record["error"] is False


async def test_an_answer_without_usage_is_estimated_from_the_prompt_it_was_sent() -> None:
    bare = ChatResponse(model="m", choices=[Choice(message=AssistantMessage(content="42"))])
    provider = _provider()
    provider.enqueue("bare", bare)
    fanout, metrics = _fanout(provider)
    run = await fanout.call(_model("bare"), REQUEST, 1.0)
    usage, estimated = run.usage()
    assert estimated is True and usage is not None
    assert usage.prompt_tokens == estimate_prompt_tokens(REQUEST)
    assert metrics.records[0]["prompt_tokens"] == usage.prompt_tokens


async def test_a_stream_that_closes_without_an_answer_names_the_model() -> None:
    empty = [ChatChunk(id="c1", choices=[ChunkChoice(delta=Delta(role="assistant"))])]
    model = _model("mute", streaming=True)
    provider = _provider()
    provider.enqueue("mute", empty)
    fanout, _ = _fanout(provider)
    run = await fanout.call(model, REQUEST, 1.0)
    assert run.status == "error" and isinstance(run.error, MalformedResponse)
    assert run.error.model == model.id and run.error.provider == P


async def test_the_overall_deadline_names_itself() -> None:
    provider = _provider()
    provider.enqueue("fast", "42")
    provider.enqueue("slow", Stall(2.0), "late")
    fanout, _ = _fanout(provider)
    models = [_model("fast"), _model("slow")]
    result = await fanout.run(models, REQUEST, timeout_s=5.0, deadline=Deadline(0.1))
    fast, slow = result.runs
    assert fast.status == "ok" and result.arrived == [fast]
    assert slow.status == "error" and slow.error is not None
    assert slow.error.message == f"{P}/slow: the request's deadline ended first"
    assert slow.error.code == "model_timeout"


def test_a_run_without_a_response_has_no_text() -> None:
    run = ModelRun(_model("x"), status="error")
    assert run.text() == ""
    assert run.usage() == (None, False)


def test_progress_keeps_the_first_chunk_id() -> None:
    progress = Progress()
    progress.see(ChatChunk(id="c1", choices=[ChunkChoice(delta=Delta(content="4"))]))
    progress.see(ChatChunk(id="c2", choices=[ChunkChoice(delta=Delta(content="2"))]))
    assert progress.id == "c1" and progress.text() == "42"


def test_a_missing_error_is_summarised_as_unknown() -> None:
    assert summary(None) == "unknown"
