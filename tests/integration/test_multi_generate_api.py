"""``POST /v1/multi-generate`` over HTTP with the local simulator: answers, errors, fuzzing."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orchestra.api.app import create_app
from orchestra.compose import build_services
from orchestra.config import Settings

QUESTION = [{"role": "user", "content": "What is 17 * 23?"}]
SIM = ["simulator/sim-large", "simulator/sim-medium", "simulator/sim-small", "simulator/sim-long"]


def _client(**settings: Any) -> TestClient:
    values = {"simulator": True, "simulator_latency_scale": 0.02, **settings}
    return TestClient(create_app(build_services(Settings(**values), {})))


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    with _client() as client:
        yield client


def _post(client: TestClient, **body: Any) -> Any:
    return client.post("/v1/multi-generate", json={"messages": QUESTION, **body})


@pytest.mark.parametrize("strategy", ["vote", "rank", "merge", "first", "judge"])
def test_each_strategy_answers_in_chat_completion_shape(client: TestClient, strategy: str) -> None:
    response = _post(client, count=3, strategy=strategy)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["object"] == "chat.completion" and body["id"].startswith("chatcmpl-")
    assert body["choices"][0]["message"]["role"] == "assistant"
    assert body["choices"][0]["message"]["content"]
    assert body["strategy"] == strategy
    assert 0.0 <= body["agreement"] <= 1.0 and 0.0 <= body["confidence"] <= 1.0
    assert len(body["results"]) == 3
    assert response.headers["x-orchestra-strategy"] == body["fusion"]["applied"]
    called = [r["usage"]["total_tokens"] for r in body["results"] if r.get("usage")]
    aux = body["fusion"].get("judge") or body["fusion"].get("synthesizer") or {}
    assert body["usage"]["total_tokens"] == sum(called) + aux.get("usage", {}).get(
        "total_tokens", 0
    )


def test_simulated_models_disagree_and_vote_settles_it(client: TestClient) -> None:
    body = _post(client, models=SIM).json()
    answers = {r["model"]: r["answer"] for r in body["results"]}
    assert len(set(answers.values())) == 2  # sim-medium is wrong on this one
    assert body["choices"][0]["message"]["content"] == "The answer is 391."
    assert body["agreement"] == 0.75


def test_the_simulator_judges_locally(client: TestClient) -> None:
    body = _post(client, models=SIM[:3], strategy="judge").json()
    assert body["fusion"]["applied"] == "judge"
    assert body["fusion"]["judge"]["model"] == "simulator/sim-long"
    assert body["fusion"]["judge"]["picked"] == body["winner"]


def test_first_cancels_and_bills_cancelled_calls_as_estimates() -> None:
    with _client(simulator_latency_scale=1.0) as client:  # real simulated latencies
        body = _post(client, models=SIM, strategy="first").json()
    cancelled = [r for r in body["results"] if r["status"] == "cancelled"]
    assert len(cancelled) == 3 and all(r["usage_estimated"] for r in cancelled)
    assert body["winner"] == "simulator/sim-small"  # the fastest simulated model


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"models": SIM, "count": 2}, None),
        ({"models": SIM, "profile": "budget"}, None),
        ({"strategy": "best"}, "strategy"),
        ({"quorum": 0}, "quorum"),
        ({"count": 3, "quorum": 4}, None),
        ({"quorum": 4}, "quorum"),
        ({"count": 0}, "count"),
        ({"count": 9}, "count"),
        ({"models": []}, "models"),
        ({"models": [SIM[0], "sim-large"]}, "models[1]"),
        ({"strategy": "vote", "judge": SIM[0]}, None),
        ({"strategy": "first", "quorum": 2}, None),
        ({"stream": True, "strategy": "best"}, "strategy"),
        ({"tools": [{"type": "function", "function": {"name": "f"}}]}, "tools"),
        ({"temperature": 5}, "temperature"),
        ({"timeout_s": -1}, "timeout_s"),
        ({"model": "openai/gpt-4o"}, "model"),
        ({"unknown_option": 1, "messages": []}, "unknown_option"),
        ({"stratgy": "rank"}, "stratgy"),
        ({"n_models": 3}, "n_models"),
        ({"similarity_threshold": 2}, "similarity_threshold"),
        ({"strategy": "judge", "judge": "simulator/sim-nope"}, "judge"),
    ],
)
def test_bad_requests_get_a_clear_400(client: TestClient, body: dict[str, Any], param: Any) -> None:
    response = _post(client, **body)
    assert response.status_code in (400, 404), response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["type"] == "invalid_request_error"
    if param is not None:
        assert error["param"] == param, error


@pytest.mark.parametrize("raw", [b"", b"[]", b"{bad", b'"text"', b"null", b"[" * 5000])
def test_unparseable_bodies_are_400(client: TestClient, raw: bytes) -> None:
    response = client.post("/v1/multi-generate", content=raw)
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"


def test_unknown_model_is_404_naming_its_position(client: TestClient) -> None:
    response = _post(client, models=[SIM[0], "nope/nothing"])
    assert response.status_code == 404
    assert response.json()["error"]["param"] == "models[1]"


def _events(raw: str) -> tuple[list[str], list[str]]:
    """(comments, data payloads) of an SSE body, in order."""
    comments, data = [], []
    for block in raw.split("\n\n"):
        if block.startswith(": "):
            comments.append(block[2:])
        elif block.startswith("data: "):
            data.append(block[6:])
    return comments, data


def test_streamed_multi_generate_sends_progress_then_the_fused_answer() -> None:
    # Given four simulated models with their real (scaled) latencies
    with _client(simulator_latency_scale=0.2) as client:
        # When the client asks for a stream
        response = _post(client, models=SIM, strategy="vote", stream=True)
    # Then it is SSE: a comment per model as it finished, the whole answer, then [DONE]
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/event-stream")
    comments, data = _events(response.text)
    progress = [c for c in comments if c != "keep-alive"]
    assert sorted(c.split()[0] for c in progress) == sorted(SIM)
    assert all(" ok " in c and c.endswith(" ms") for c in progress)
    assert data[-1] == "[DONE]" and len(data) == 2
    body = json.loads(data[0])
    assert body["object"] == "chat.completion" and body["strategy"] == "vote"
    assert {r["model"] for r in body["results"]} == set(SIM)


def test_streamed_multi_generate_that_fails_before_any_answer_keeps_its_status() -> None:
    with _client(simulator_failure_rate=1.0) as client:
        response = _post(client, models=SIM[:2], stream=True)
    assert response.status_code == 502
    assert response.json()["error"]["code"]


def test_streamed_multi_generate_keeps_the_connection_alive_while_models_think() -> None:
    # Given slow models and a short keep-alive interval
    with _client(simulator_latency_scale=1.0, stream_keepalive_s=0.01) as client:
        response = _post(client, models=SIM[1:3], strategy="vote", stream=True)
    # Then keep-alive comments came while they thought, and the answer is complete
    comments, data = _events(response.text)
    assert response.status_code == 200
    assert "keep-alive" in comments and len(comments) > 2
    assert data[-1] == "[DONE]" and json.loads(data[0])["strategy"] == "vote"


def test_all_models_failing_is_502_in_openai_shape() -> None:
    with _client(simulator_failure_rate=1.0) as client:
        response = _post(client, models=SIM[:2])
    assert response.status_code == 502
    error = response.json()["error"]
    assert error["code"] == "all_models_failed" and "simulator/sim-large" in error["message"]
    assert "x-orchestra-attempts" in response.headers


def test_client_keys_are_enforced() -> None:
    with _client(api_keys="client-secret-123") as client:
        assert _post(client, count=2).status_code == 401
        ok = client.post(
            "/v1/multi-generate",
            json={"messages": QUESTION, "count": 2},
            headers={"authorization": "Bearer client-secret-123"},
        )
    assert ok.status_code == 200


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)
FIELDS = st.fixed_dictionaries(
    {},
    optional={
        "messages": st.just(QUESTION) | JSON,
        "models": st.lists(st.sampled_from([*SIM, "x", ""]), max_size=4) | JSON,
        "count": st.integers(-2, 10) | JSON,
        "strategy": st.sampled_from(["vote", "rank", "merge", "first", "judge", "x"]) | JSON,
        "quorum": st.integers(-1, 6) | JSON,
        "timeout_s": st.floats(-1, 3, allow_nan=False) | JSON,
        "judge": st.sampled_from([*SIM, "zz"]) | JSON,
        "synthesizer": st.sampled_from([*SIM, "none", "auto"]) | JSON,
        "similarity_threshold": st.floats(-1, 2, allow_nan=False) | JSON,
        "temperature": JSON,
    },
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(body=FIELDS)
def test_fuzzed_bodies_never_get_a_500(client: TestClient, body: dict[str, Any]) -> None:
    response = client.post("/v1/multi-generate", content=json.dumps(body))
    assert response.status_code in (200, 400, 404, 413, 502, 503), response.text
    if response.status_code != 200:
        assert set(response.json()["error"]) == {"message", "type", "param", "code"}
