"""On Lambda (tracing on), an answer's GenAI attributes become X-Ray annotations."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from orchestra.aws_lambda.app import LambdaApp
from orchestra.errors import Overloaded
from orchestra.schemas.chat import Usage
from orchestra.telemetry.xray import XRayAnnotations

EVENTS = Path(__file__).resolve().parents[3] / "events" / "generate"


class FakeSubsegment:
    def __init__(self, name: str) -> None:
        self.name, self.start_time, self.end_time = name, time.time(), 0.0
        self.annotations: dict[str, Any] = {}

    def put_annotation(self, key: str, value: Any) -> None:
        self.annotations[key] = value


class FakeProvider:
    """Powertools' X-Ray provider: ``in_subsegment`` opens and closes a subsegment."""

    def __init__(self) -> None:
        self.subsegments: list[FakeSubsegment] = []

    @contextlib.contextmanager
    def in_subsegment(self, name: str) -> Iterator[FakeSubsegment]:
        subsegment = FakeSubsegment(name)
        yield subsegment
        subsegment.end_time = time.time()
        self.subsegments.append(subsegment)


class FakeTracer:
    """Powertools' ``Tracer``: ``put_annotation`` and its ``provider``, recorded."""

    def __init__(self) -> None:
        self.annotations: dict[str, Any] = {}
        self.provider = FakeProvider()

    def put_annotation(self, key: str, value: Any) -> None:
        assert key.replace("_", "").isalnum(), key  # X-Ray's rule for annotation keys
        self.annotations[key] = value


def test_an_answer_is_annotated_with_its_model_tokens_cost_and_fallbacks():
    tracer = FakeTracer()
    annotations = XRayAnnotations(tracer)
    annotations.attempt("a/m", Overloaded("busy", provider="a", model="a/m"), 10.0)
    annotations.completed("b/m", usage=Usage.of(12, 4), cost_usd=0.002, latency_ms=9, fallbacks=1)
    annotations.refused("budget_exceeded")
    assert tracer.annotations == {
        "orchestra_failed_model": "a/m",
        "error_type": Overloaded("x", provider="a", model="a/m").code,
        "gen_ai_response_model": "b/m",
        "gen_ai_usage_input_tokens": 12,
        "gen_ai_usage_output_tokens": 4,
        "orchestra_cost_usd": 0.002,
        "orchestra_fallbacks": 1,
        "orchestra_refusal": "budget_exceeded",
    }
    # and the attempt is a subsegment backdated by its latency
    (subsegment,) = tracer.provider.subsegments
    assert subsegment.name == "chat a/m"
    assert 0.009 <= subsegment.end_time - subsegment.start_time < 0.5
    assert subsegment.annotations["orchestra_outcome"] == tracer.annotations["error_type"]


def test_the_lambda_app_annotates_through_its_tracer():
    # Given the Lambda app with a tracer (tracing on) and the simulator
    tracer = FakeTracer()
    app = LambdaApp(environ={"ORCHESTRA_SIMULATOR": "true"}, tracer=tracer)
    event = json.loads((EVENTS / "rest_v1_chat_completions.json").read_text())
    try:
        # When a chat completion is answered
        response = app(event, None)
    finally:
        app.close()
    assert response["statusCode"] == 200, response
    # Then the handler's segment carries the answering model and its tokens
    body = json.loads(response["body"])
    assert tracer.annotations["gen_ai_response_model"] == body["model"]
    assert tracer.annotations["gen_ai_usage_input_tokens"] == body["usage"]["prompt_tokens"]
    (attempt,) = tracer.provider.subsegments
    assert attempt.name == f"chat {body['model']}"


def test_an_answer_from_cache_is_annotated_with_its_outcome_and_match():
    tracer = FakeTracer()
    XRayAnnotations(tracer).cache("hit", "semantic", 0.01)
    assert tracer.annotations == {"orchestra_cache": "hit", "orchestra_cache_match": "semantic"}
