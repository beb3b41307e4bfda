"""``functions/multi_generate/handler.py`` with every sample event in ``events/multi_generate``.

AWS mode under moto (tables, Secrets Manager), fanning out over three real wire protocols:
an OpenAI-compatible, an Anthropic and a Gemini upstream on 127.0.0.1, each replaying its
recorded stream from shared/fixtures.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from support.lambda_api import (
    EVENTS,
    CallCounter,
    Context,
    body_of,
    close_apps,
    deployed,
    header_of,
    load_handler,
    sample_event,
)
from support.upstream import FakeUpstream, Reply, running_in_thread

KEYS = {
    "OPENAI_UPSTREAM_KEY": "sk-proj-upstream-openai-1f2e3d4c5b6a",
    "ANTHROPIC_UPSTREAM_KEY": "sk-ant-upstream-anthropic-9a8b7c6d",
    "GEMINI_UPSTREAM_KEY": "AIzaUpstreamGeminiKey0123456789abcdef",
}
OPENAI = "upstream-openai/gpt-4o"
ANTHROPIC = "upstream-anthropic/claude-sonnet-4-5"
GEMINI = "upstream-gemini/gemini-2.5-flash"
STREAMS = {
    "openai": ("openai", "openai/chat_completion_stream_include_usage.sse"),
    "anthropic": ("anthropic", "anthropic/messages_stream_text.sse"),
    "gemini": ("gemini", "gemini/stream_generate_content_alt_sse.sse"),
}


@pytest.fixture(autouse=True)
def _close_apps() -> Iterator[None]:
    yield
    close_apps()


@pytest.fixture
def upstreams(recorded: Any) -> Iterator[dict[str, FakeUpstream]]:
    fakes = {
        name: FakeUpstream(Reply.sse(recorded.bytes(path))) for name, (_, path) in STREAMS.items()
    }
    with (
        running_in_thread(fakes["openai"]),
        running_in_thread(fakes["anthropic"]),
        running_in_thread(fakes["gemini"]),
    ):
        yield fakes


def _providers_file(tmp_path: Path, upstreams: dict[str, FakeUpstream]) -> Path:
    models = {
        "openai": ("gpt-4o", 1283, 2.5e-6),
        "anthropic": ("claude-sonnet-4-5", 1427, 3e-6),
        "gemini": ("gemini-2.5-flash", 1415, 3e-7),
    }
    entries = []
    for name, (kind, _) in STREAMS.items():
        model, quality, price = models[name]
        base = upstreams[name].base_url + ("/v1" if kind == "openai" else "")
        entries.append(
            {
                "name": f"upstream-{name}",
                "type": kind,
                "base_url": base,
                "api_key_env": f"{name.upper()}_UPSTREAM_KEY",
                "models": [
                    {
                        "id": model,
                        "context_window": 128000,
                        "input_price": price,
                        "output_price": 4 * price,
                        "quality": quality,
                    }
                ],
            }
        )
    path = tmp_path / "orchestra.yaml"
    path.write_text(json.dumps({"providers": entries}))  # JSON is YAML
    return path


@pytest.fixture
def aws(
    tmp_path: Path, upstreams: dict[str, FakeUpstream], monkeypatch: pytest.MonkeyPatch
) -> Iterator[Any]:
    with deployed(monkeypatch, _providers_file(tmp_path, upstreams), KEYS) as dynamodb:
        yield dynamodb


def _invoke(name: str, body: dict[str, Any] | None = None) -> tuple[int, dict[str, Any], Any]:
    event = sample_event("multi_generate", name)
    if body is not None:
        event["body"] = json.dumps(body)
    response = load_handler("multi_generate").handler(event, Context("multi_generate"))
    return response["statusCode"], json.loads(body_of(response)), response


EXPECTED = {
    "rest_v1_multi_generate_vote.json": 200,
    "http_v2_multi_generate_rank_quorum.json": 200,
    "http_v2_multi_generate_first.json": 200,
    "rest_v1_multi_generate_models_and_count.json": 400,
    "http_v2_multi_generate_unknown_model.json": 404,
    "http_v2_health.json": 200,
}


def test_every_sample_event_has_an_expectation() -> None:
    assert sorted(p.name for p in (EVENTS / "multi_generate").glob("*.json")) == sorted(EXPECTED)


@pytest.mark.parametrize(("name", "status"), sorted(EXPECTED.items()))
def test_handler_answers_each_sample_event(aws: Any, name: str, status: int, capsys: Any) -> None:
    code, body, response = _invoke(name)
    assert code == status, body
    if status >= 400:
        assert set(body["error"]) == {"message", "type", "param", "code"}
    logs = capsys.readouterr()
    blob = json.dumps(body) + json.dumps(response.get("headers")) + logs.out + logs.err
    assert not any(key in blob for key in KEYS.values())


def test_fan_out_over_three_wire_protocols(aws: Any, upstreams: dict[str, FakeUpstream]) -> None:
    status, body, response = _invoke("rest_v1_multi_generate_vote.json")
    assert status == 200 and body["object"] == "chat.completion"
    results = {r["model"]: r for r in body["results"]}
    assert set(results) == {OPENAI, ANTHROPIC, GEMINI}
    assert all(r["status"] == "ok" and r["answer"] for r in results.values())
    # usage as each vendor reported it in its stream
    assert results[OPENAI]["usage"]["prompt_tokens"] == 14
    assert results[ANTHROPIC]["usage"]["prompt_tokens"] == 20
    assert results[GEMINI]["usage"]["prompt_tokens"] == 18
    assert body["usage"]["total_tokens"] == sum(
        r["usage"]["total_tokens"] for r in results.values()
    )
    assert body["choices"][0]["message"]["content"] == results[body["winner"]]["answer"]
    assert header_of(response, "x-orchestra-strategy") == "vote"
    # each vendor was called in its own protocol, streaming, with its own key
    assert upstreams["openai"].requests[-1]["body"]["stream"] is True
    assert (
        upstreams["anthropic"].requests[-1]["headers"]["x-api-key"]
        == KEYS["ANTHROPIC_UPSTREAM_KEY"]
    )
    assert "streamGenerateContent" in upstreams["gemini"].requests[-1]["path"]


def test_one_vendor_overloaded_still_fuses(
    aws: Any, recorded: Any, upstreams: dict[str, FakeUpstream]
) -> None:
    status, headers = recorded.headers("anthropic/error_529_overloaded_error.headers.json")
    overloaded = Reply.json(
        recorded.bytes("anthropic/error_529_overloaded_error.json"), status=status, headers=headers
    )
    upstreams["anthropic"].enqueue(overloaded, overloaded)
    code, body, _ = _invoke("rest_v1_multi_generate_vote.json")
    assert code == 200
    failed = next(r for r in body["results"] if r["model"] == ANTHROPIC)
    assert failed["status"] == "error" and failed["error"]["code"] == "overloaded"
    assert sum(r["status"] == "ok" for r in body["results"]) == 2


def test_every_vendor_failing_is_a_502_in_openai_shape(
    aws: Any, recorded: Any, upstreams: dict[str, FakeUpstream]
) -> None:
    for fake in upstreams.values():
        fake.default = Reply.json({"error": {"message": "boom"}}, status=500)
    status, body, response = _invoke("rest_v1_multi_generate_vote.json")
    assert status == 502 and body["error"]["code"] == "all_models_failed"
    assert set(body["error"]) == {"message", "type", "param", "code"}
    assert all(m in body["error"]["message"] for m in (OPENAI, ANTHROPIC, GEMINI))
    assert header_of(response, "x-orchestra-attempts")


def _vote_body(**fields: Any) -> dict[str, Any]:
    event = sample_event("multi_generate", "rest_v1_multi_generate_vote.json")
    return {**json.loads(event["body"]), **fields}


def test_a_misspelt_option_is_refused_and_no_model_is_called(
    aws: Any, upstreams: dict[str, FakeUpstream]
) -> None:
    # Given a body whose strategy is misspelt
    body = _vote_body(stratgy="rank")
    del body["strategy"]
    # When it is sent, then it is a 400 naming the field, and no model was asked anything
    status, answer, _ = _invoke("rest_v1_multi_generate_vote.json", body)
    assert status == 400, answer
    assert answer["error"]["param"] == "stratgy"
    assert answer["error"]["code"] == "unknown_parameter"
    assert "'stratgy' (did you mean 'strategy'?)" in answer["error"]["message"]
    assert all(not fake.requests for fake in upstreams.values())


def test_genuine_chat_parameters_are_still_forwarded(
    aws: Any, upstreams: dict[str, FakeUpstream]
) -> None:
    # Given OpenAI and OpenAI-compatible vendors' parameters beside the options
    extras = {"top_k": 40, "reasoning": {"effort": "low"}, "logit_bias": {"50256": -100}}
    status, answer, _ = _invoke("rest_v1_multi_generate_vote.json", _vote_body(**extras))
    # Then the request succeeds and the OpenAI-compatible upstream received them
    assert status == 200, answer
    sent = upstreams["openai"].requests[-1]["body"]
    assert {k: sent.get(k) for k in extras} == extras
    assert "strategy" not in sent and "models" not in sent


@pytest.mark.parametrize(
    "options",
    [
        {"strategy": "vote"},
        {"strategy": "judge", "models": [OPENAI, GEMINI]},
        {"count": 2, "models": None},
    ],
)
def test_warm_fan_out_reads_breakers_in_one_round_trip(
    aws: Any, monkeypatch: pytest.MonkeyPatch, options: dict[str, Any]
) -> None:
    monkeypatch.setenv("ORCHESTRA_BREAKER_CACHE_S", "0")  # never served from the cache
    counter = CallCounter()
    counter.install(monkeypatch)
    handler = load_handler("multi_generate")
    event = sample_event("multi_generate", "rest_v1_multi_generate_vote.json")
    body = {k: v for k, v in {**json.loads(event["body"]), **options}.items() if v is not None}
    event["body"] = json.dumps(body)
    assert handler.handler(event, Context("multi_generate"))["statusCode"] == 200
    for _ in range(2):
        counter.calls.clear()
        assert handler.handler(event, Context("multi_generate"))["statusCode"] == 200
        assert counter.dynamodb() == ["BatchGetItem"], counter.calls


def test_emf_metrics_per_strategy(aws: Any, capsys: Any) -> None:
    _invoke("rest_v1_multi_generate_vote.json")
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines() if x.startswith("{")]
    emf = [x for x in lines if "_aws" in x and x.get("Strategy") == "vote"]
    assert emf and emf[0]["FusionRequests"] == [1.0] and "FusionAgreement" in emf[0]
    assert emf[0]["service"] == "orchestra-multi-generate"
