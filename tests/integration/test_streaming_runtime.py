"""The deployed entry point, streaming: ``functions/stream_runtime`` in a subprocess, as Lambda
starts it, against a local API Gateway (STREAM) + Runtime API emulation and a slow upstream.

Everything is asserted from the client's side of the emulated API Gateway: when each chunk
arrived, what status and headers the head carried, how a failure ends.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from support.lambda_emulator import LambdaEmulator, emulated
from support.upstream import FakeUpstream, Reply, running_in_thread

HANDLER = "functions.generate.handler.handler"
KEY = "sk-slow-0123456789abcdef"
MODEL = "slow/reasoner"


def openai_stream(tokens: int, *, usage: bool = True) -> list[bytes]:
    """A chat-completions SSE stream as OpenAI sends it: role, one event per token, finish,
    usage, [DONE]; each event is its own network write."""

    def event(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> bytes:
        chunk = {
            "id": "chatcmpl-slow",
            "object": "chat.completion.chunk",
            "created": 1759436814,
            "model": "reasoner",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            **extra,
        }
        return b"data: " + json.dumps(chunk).encode() + b"\n\n"

    pieces = [event({"role": "assistant", "content": ""})]
    pieces += [event({"content": f"t{i} "}) for i in range(tokens)]
    pieces.append(event({}, "stop"))
    if usage:
        stats = {"prompt_tokens": 9, "completion_tokens": tokens, "total_tokens": 9 + tokens}
        pieces.append(
            b"data: "
            + json.dumps(
                {
                    "id": "chatcmpl-slow",
                    "object": "chat.completion.chunk",
                    "created": 1,
                    "model": "reasoner",
                    "choices": [],
                    "usage": stats,
                }
            ).encode()
            + b"\n\n"
        )
    return [*pieces, b"data: [DONE]\n\n"]


def sse(pieces: list[bytes], **kw: Any) -> Reply:
    return Reply(status=200, chunks=pieces, headers={"content-type": "text/event-stream"}, **kw)


def provider_config(tmp_path: Path, upstream: str) -> Path:
    path = tmp_path / "orchestra.yaml"
    provider = {
        "name": "slow",
        "type": "openai",
        "base_url": f"{upstream}/v1",
        "api_key_env": "SLOW_KEY",
        "models": [
            {
                "id": "reasoner",
                "context_window": 128000,
                "quality": 1300,
                "input_price": 1e-6,
                "output_price": 4e-6,
                "capabilities": ["streaming"],
            }
        ],
    }
    path.write_text(json.dumps({"providers": [provider]}))
    return path


def runtime_env(config: Path, **settings: str) -> dict[str, str]:
    return {
        "ORCHESTRA_MODE": "local",
        "ORCHESTRA_CONFIG": str(config),
        "SLOW_KEY": KEY,
        "ORCHESTRA_TRUST_GATEWAY_AUTH": "true",
        "POWERTOOLS_SERVICE_NAME": "orchestra-generate",
        "POWERTOOLS_METRICS_NAMESPACE": "Orchestra",
        "POWERTOOLS_TRACE_DISABLED": "true",
        **settings,
    }


@contextlib.contextmanager
def gateway(
    tmp_path: Path, upstream: FakeUpstream, *, environments: int = 1, **options: Any
) -> Iterator[tuple[LambdaEmulator, Path]]:
    settings = options.pop("settings", {})
    log = tmp_path / "function.log"
    with emulated(**options) as emulator:
        env = runtime_env(provider_config(tmp_path, upstream.base_url), **settings)
        for _ in range(environments):
            emulator.spawn(env, HANDLER, log)
        yield emulator, log


@pytest.fixture
def upstream() -> Iterator[FakeUpstream]:
    with running_in_thread(FakeUpstream()) as fake:
        yield fake


def chat(stream: bool = True, **extra: Any) -> dict[str, Any]:
    return {
        "model": MODEL,
        "messages": [{"role": "user", "content": "think hard"}],
        "stream": stream,
        "stream_options": {"include_usage": True},
        **extra,
    }


def read_events(response: httpx.Response) -> list[tuple[float, str]]:
    """(arrival time, SSE block) for every event and comment, as the client saw them."""
    events, buffer = [], ""
    for text in response.iter_text():
        buffer += text
        while "\n\n" in buffer:
            block, buffer = buffer.split("\n\n", 1)
            events.append((time.monotonic(), block))
    return events


def data_of(events: list[tuple[float, str]]) -> list[tuple[float, str]]:
    return [(t, block[6:]) for t, block in events if block.startswith("data: ")]


@pytest.mark.slow
def test_tokens_reach_the_client_as_the_upstream_produces_them(
    tmp_path: Path, upstream: FakeUpstream
) -> None:
    # Given an upstream that sends a token every 200 ms
    upstream.default = sse(openai_stream(15), chunk_delay=0.2)
    with gateway(tmp_path, upstream) as (emulator, log):
        started = time.monotonic()
        with httpx.stream(
            "POST", f"{emulator.front_url}/v1/chat/completions", json=chat(), timeout=60
        ) as response:
            head_at = time.monotonic()
            events = read_events(response)
        record = emulator.records[-1]
    # Then the head carried the status and the headers
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.headers["x-orchestra-model"] == MODEL
    assert record.mode == "stream" and record.head is not None
    assert record.head["statusCode"] == 200 and record.head["headers"]["x-orchestra-model"] == MODEL
    # And the chunks arrived spread over time, the first well before the last
    data = data_of(events)
    contents = [(t, json.loads(d)) for t, d in data if d != "[DONE]"]
    tokens = [t for t, c in contents if c["choices"] and c["choices"][0]["delta"].get("content")]
    assert len(tokens) == 15
    assert tokens[-1] - tokens[0] > 2.0  # 14 gaps of 200 ms
    gaps = [b - a for a, b in itertools.pairwise(tokens)]
    assert sum(1 for g in gaps if g > 0.1) >= 12  # not delivered in one burst
    assert head_at - started < tokens[-1] - started - 2.0
    assert data[-1][1] == "[DONE]"
    assert contents[-1][1]["usage"]["completion_tokens"] == 15
    # And Powertools logged the request with its correlation id, then flushed EMF metrics
    lines = [json.loads(x) for x in log.read_text().splitlines() if x.startswith("{")]
    request_id = emulator.invocations[record.request_id].event["requestContext"]["requestId"]
    handled = [x for x in lines if x.get("message") == "request handled"]
    assert handled and handled[-1]["correlation_id"] == request_id != record.request_id
    assert handled[-1]["function_request_id"] == record.request_id
    assert handled[-1]["status"] == 200 and handled[-1]["model"] == MODEL
    emf = {k: v for x in lines if "_aws" in x for k, v in x.items()}
    assert emf["Status2xx"] == [1.0] and emf["CompletionTokens"] == [15.0]


@pytest.mark.slow
def test_a_mid_stream_failure_ends_with_an_error_event_and_no_done(
    tmp_path: Path, upstream: FakeUpstream
) -> None:
    # Given an upstream that breaks after five events
    upstream.default = sse(openai_stream(20), chunk_delay=0.05, drop_after=5)
    with (
        gateway(tmp_path, upstream) as (emulator, _),
        httpx.stream(
            "POST", f"{emulator.front_url}/v1/chat/completions", json=chat(), timeout=60
        ) as response,
    ):
        events = data_of(read_events(response))
    # Then the answer started, then an error event, and no [DONE]
    assert response.status_code == 200
    payloads = [json.loads(d) for _, d in events if d != "[DONE]"]
    assert any(p.get("choices") for p in payloads)
    assert "error" in payloads[-1] and payloads[-1]["error"]["code"] == "stream_interrupted"
    assert all(d != "[DONE]" for _, d in events)
    assert not any(p.get("choices") and p["choices"][0].get("finish_reason") for p in payloads)


@pytest.mark.slow
def test_an_error_before_the_first_byte_keeps_its_status_and_shape(
    tmp_path: Path, upstream: FakeUpstream
) -> None:
    upstream.default = Reply.json({"error": {"message": "nope", "type": "x"}}, status=500)
    with gateway(tmp_path, upstream) as (emulator, _):
        unknown = httpx.post(
            f"{emulator.front_url}/v1/chat/completions", json=chat(model="nobody/none"), timeout=30
        )
        failing = httpx.post(f"{emulator.front_url}/v1/chat/completions", json=chat(), timeout=30)
        malformed = httpx.post(
            f"{emulator.front_url}/v1/chat/completions", content=b"{not json", timeout=30
        )
    assert unknown.status_code == 404 and unknown.json()["error"]["param"] == "model"
    assert failing.status_code in (502, 503) and set(failing.json()["error"]) == {
        "message",
        "type",
        "param",
        "code",
    }
    assert malformed.status_code == 400 and malformed.json()["error"]["code"] == "invalid_json"
    assert KEY not in failing.text


@pytest.mark.slow
def test_a_client_that_leaves_cancels_the_upstream_call(
    tmp_path: Path, upstream: FakeUpstream
) -> None:
    # Given a long answer (100 tokens, 10 s)
    upstream.default = sse(openai_stream(100), chunk_delay=0.1)
    with gateway(tmp_path, upstream) as (emulator, _):
        # When the client reads a few tokens and hangs up
        with httpx.stream(
            "POST", f"{emulator.front_url}/v1/chat/completions", json=chat(), timeout=30
        ) as response:
            for seen, _ in enumerate(response.iter_lines()):
                if seen > 6:
                    break
        left = time.monotonic()
        # Then the gateway closes the upstream call long before the answer would have ended
        while upstream.abandoned == 0 and time.monotonic() - left < 5:
            time.sleep(0.05)
        sent = len(upstream.sent_at)
    assert upstream.abandoned == 1
    assert time.monotonic() - left < 5 and sent < 60


@pytest.mark.slow
def test_snapstart_restore_then_serve(tmp_path: Path, upstream: FakeUpstream) -> None:
    upstream.default = sse(openai_stream(3))
    settings = {"AWS_LAMBDA_INITIALIZATION_TYPE": "snap-start"}
    with gateway(tmp_path, upstream, settings=settings) as (emulator, _):
        response = httpx.post(f"{emulator.front_url}/v1/chat/completions", json=chat(), timeout=30)
        restores = emulator.restores
    assert response.status_code == 200 and response.text.endswith("data: [DONE]\n\n")
    assert restores == 1


def test_a_handler_that_cannot_be_imported_is_an_init_error(tmp_path: Path) -> None:
    with emulated() as emulator:
        process = emulator.spawn(
            runtime_env(tmp_path / "none.yaml"), "functions.nope.handler.handler", tmp_path / "log"
        )
        assert process.wait(30) == 1
        errors = emulator.init_errors
    assert errors and errors[0]["errorType"] == "Runtime.ImportModuleError"


@pytest.mark.slow
def test_answers_longer_than_29_seconds_streamed_and_whole(
    tmp_path: Path, upstream: FakeUpstream
) -> None:
    """API Gateway's old 29 s limit: a streamed answer with a 12 s silence (reasoning) kept
    open by keep-alives under a 5 s idle timeout, and an answer sent whole after 31 s."""
    slow_stream = sse(openai_stream(19), chunk_delay=1.0, pauses={2: 12.0})  # ~32 s
    slow_whole = Reply.json(
        {
            "id": "chatcmpl-w",
            "object": "chat.completion",
            "created": 1,
            "model": "reasoner",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": "done"},
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 9, "completion_tokens": 1, "total_tokens": 10},
        },
        delay=31.0,
    )
    upstream.responder = lambda seen: slow_stream if seen["body"].get("stream") else slow_whole
    results: dict[str, Any] = {}

    def streamed() -> None:
        with gateway(
            tmp_path / "a", upstream, idle_s=5.0, settings={"ORCHESTRA_STREAM_KEEPALIVE_S": "2"}
        ) as (emulator, _):
            started = time.monotonic()
            with httpx.stream(
                "POST", f"{emulator.front_url}/v1/chat/completions", json=chat(), timeout=90
            ) as response:
                results["stream"] = (response.status_code, read_events(response), started)

    def whole() -> None:
        with gateway(tmp_path / "b", upstream) as (emulator, _):
            started = time.monotonic()
            response = httpx.post(
                f"{emulator.front_url}/v1/chat/completions", json=chat(stream=False), timeout=90
            )
            results["whole"] = (response, time.monotonic() - started)

    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    threads = [threading.Thread(target=streamed), threading.Thread(target=whole)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    status, events, started = results["stream"]
    assert status == 200
    blocks = [b for _, b in events]
    assert blocks[-1] == "data: [DONE]" and events[-1][0] - started > 29
    assert blocks.count(": keep-alive") >= 4  # the 12 s silence, one every 2 s
    response, took = results["whole"]
    assert response.status_code == 200 and took > 29
    assert response.json()["choices"][0]["message"]["content"] == "done"


@pytest.mark.slow
def test_the_openai_sdk_streams_through_the_deployed_path(
    tmp_path: Path, upstream: FakeUpstream
) -> None:
    from openai import APIError, OpenAI

    # Given a healthy stream, then one that breaks after its first tokens
    upstream.enqueue(
        sse(openai_stream(12), chunk_delay=0.05),
        sse(openai_stream(12), chunk_delay=0.05, drop_after=6),
    )
    with gateway(tmp_path, upstream) as (emulator, _):
        client = OpenAI(base_url=f"{emulator.front_url}/v1", api_key="sk-any", max_retries=0)
        # When the SDK streams the first answer, it gets every token and the usage
        arrivals, text, usage = [], "", None
        for chunk in client.chat.completions.create(
            model=MODEL,
            messages=[{"role": "user", "content": "go"}],
            stream=True,
            stream_options={"include_usage": True},
        ):
            if chunk.choices and chunk.choices[0].delta.content:
                arrivals.append(time.monotonic())
                text += chunk.choices[0].delta.content
            usage = chunk.usage or usage
        # And the broken one raises the SDK's APIError after the tokens it did get
        partial = ""
        with pytest.raises(APIError, match="after the answer had started"):
            for chunk in client.chat.completions.create(
                model=MODEL, messages=[{"role": "user", "content": "go"}], stream=True
            ):
                if chunk.choices and chunk.choices[0].delta.content:
                    partial += chunk.choices[0].delta.content
    assert text == "".join(f"t{i} " for i in range(12))
    assert usage is not None and usage.completion_tokens == 12
    assert arrivals[-1] - arrivals[0] > 0.4  # 11 gaps of 50 ms: streamed, not one burst
    assert partial.startswith("t0 ")
