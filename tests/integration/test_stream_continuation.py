"""Mid-stream continuation against real HTTP upstreams on 127.0.0.1.

``alpha`` (OpenAI-compatible) starts every answer and breaks after "Hello, wor"; ``beta``
(Anthropic Messages) continues with the partial answer as a prefill; ``gamma``
(OpenAI-compatible) continues after an explicit instruction. The gateway app is driven
in-process over ASGI; what the client reads must be one answer, exactly.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from orchestra.config import Settings
from orchestra.generate.continuation import CONTINUE_INSTRUCTION

from support.gateway import gateway_client, providers_file, started
from support.upstream import FakeUpstream, Reply

KEYS = {"ALPHA_KEY": "sk-alpha-0123456789", "BETA_KEY": "sk-beta-0123456789", "GAMMA_KEY": "sk-g-1"}
HELLO = [{"role": "user", "content": "Say hello to the world"}]
SSE = {"content-type": "text/event-stream"}


# --- upstream scripts ------------------------------------------------------------------


def openai_chunk(content: str | None = None, **delta: Any) -> bytes:
    if content is not None:
        delta["content"] = content
    choice = {"index": 0, "delta": delta, "finish_reason": None}
    chunk = {"id": "chatcmpl-up", "object": "chat.completion.chunk", "model": "m1"}
    return b"data: " + json.dumps({**chunk, "choices": [choice]}).encode() + b"\n\n"


def openai_end(prompt: int = 30, completion: int = 4) -> list[bytes]:
    finish = {"index": 0, "delta": {}, "finish_reason": "stop"}
    usage = {"prompt_tokens": prompt, "completion_tokens": completion}
    base = {"id": "chatcmpl-up", "object": "chat.completion.chunk", "model": "m1"}
    return [
        b"data: " + json.dumps({**base, "choices": [finish]}).encode() + b"\n\n",
        b"data: " + json.dumps({**base, "choices": [], "usage": usage}).encode() + b"\n\n",
        b"data: [DONE]\n\n",
    ]


def broken(how: str, pieces: tuple[str, ...] = ("Hello,", " wor")) -> Reply:
    """An OpenAI stream that sends ``pieces`` then breaks ``how``."""
    chunks = [openai_chunk("", role="assistant"), *(openai_chunk(p) for p in pieces)]
    if how == "reset":  # the connection drops (what would follow is never sent)
        return Reply(
            chunks=[*chunks, openai_chunk(" never")],
            headers=SSE,
            drop_after=len(chunks),
            chunk_delay=0.02,
        )
    if how == "in_band":  # an error object inside the 200 stream
        error = {"error": {"message": "Overloaded", "code": 503}}
        chunks.append(b"data: " + json.dumps(error).encode() + b"\n\n")
    return Reply(chunks=chunks, headers=SSE, chunk_delay=0.01)  # "truncated": no finish, no [DONE]


def anthropic_stream(*texts: str, input_tokens: int = 20, output_tokens: int = 2) -> Reply:
    def ev(kind: str, **data: Any) -> bytes:
        return f"event: {kind}\ndata: {json.dumps({'type': kind, **data})}\n\n".encode()

    message = {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "c1",
        "content": [],
        "stop_reason": None,
        "usage": {"input_tokens": input_tokens, "output_tokens": 1},
    }
    chunks = [
        ev("message_start", message=message),
        ev("content_block_start", index=0, content_block={"type": "text", "text": ""}),
        *(
            ev("content_block_delta", index=0, delta={"type": "text_delta", "text": t})
            for t in texts
        ),
        ev("content_block_stop", index=0),
        ev(
            "message_delta",
            delta={"stop_reason": "end_turn", "stop_sequence": None},
            usage={"output_tokens": output_tokens},
        ),
        ev("message_stop"),
    ]
    return Reply(chunks=chunks, headers=SSE)


# --- the gateway -----------------------------------------------------------------------


@pytest.fixture
async def upstreams() -> AsyncIterator[dict[str, FakeUpstream]]:
    async with started({name: FakeUpstream() for name in ("alpha", "beta", "gamma")}) as fakes:
        yield fakes


def _config(tmp_path: Path, fakes: dict[str, FakeUpstream]) -> Path:
    def model(name: str, quality: int) -> dict[str, Any]:
        return {
            "id": name,
            "context_window": 128000,
            "quality": quality,
            "input_price": 0.000001 * quality / 1000,
            "output_price": 0.000004 * quality / 1000,
            "capabilities": ["streaming", "tools"],
        }

    return providers_file(
        tmp_path,
        {
            "alpha": ("openai", f"{fakes['alpha'].base_url}/v1", model("m1", 1400)),
            "beta": ("anthropic", fakes["beta"].base_url, model("c1", 1300)),
            "gamma": ("openai", f"{fakes['gamma'].base_url}/v1", model("m1", 1200)),
        },
    )


@contextlib.asynccontextmanager
async def gateway(
    tmp_path: Path, fakes: dict[str, FakeUpstream], **settings: Any
) -> AsyncIterator[httpx.AsyncClient]:
    defaults: dict[str, Any] = {"request_deadline_s": 10.0, "attempts_per_model": 1}
    config = Settings(config=str(_config(tmp_path, fakes)), **{**defaults, **settings})
    async with gateway_client(config, KEYS) as client:
        yield client


def chat(*fallbacks: str, **extra: Any) -> dict[str, Any]:
    return {
        "model": "alpha/m1",
        "messages": HELLO,
        "stream": True,
        "stream_options": {"include_usage": True},
        "fallbacks": list(fallbacks),
        **extra,
    }


def data_events(response: httpx.Response) -> list[str]:
    return [line[6:] for line in response.text.splitlines() if line.startswith("data: ")]


def text_of(chunks: list[dict[str, Any]]) -> str:
    return "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])


def never_forwarded(fake: FakeUpstream) -> None:
    for seen in fake.requests:
        assert "orchestra" not in seen["body"], seen["body"]


# --- OpenAI-compatible -> Anthropic (prefill) ------------------------------------------


@pytest.mark.parametrize(
    ("how", "reason"),
    [("reset", "ConnectionFailed"), ("truncated", "MalformedResponse"), ("in_band", "Overloaded")],
)
async def test_a_broken_stream_is_finished_by_anthropic_as_one_answer(
    tmp_path, upstreams, how, reason
):
    alpha, beta = upstreams["alpha"], upstreams["beta"]
    # Given alpha breaks after "Hello, wor" and beta (Anthropic) can finish the answer
    alpha.enqueue(broken(how))
    beta.enqueue(anthropic_stream("ld!"))
    async with gateway(tmp_path, upstreams) as client:
        # When a client streams from alpha with beta behind it
        response = await client.post("/v1/chat/completions", json=chat("beta/c1"))
    # Then the client reads one answer, exactly the concatenation, ending with [DONE]
    assert response.status_code == 200
    events = data_events(response)
    assert events[-1] == "[DONE]", events
    chunks = [json.loads(e) for e in events[:-1]]
    assert all("error" not in c for c in chunks)
    assert text_of(chunks) == "Hello, world!"
    # And one role, one finish, every chunk under the id and model the client saw first
    assert [c for c in chunks if c["choices"] and c["choices"][0]["delta"].get("role")] == [
        chunks[0]
    ]
    assert sum(1 for c in chunks if c["choices"] and c["choices"][0].get("finish_reason")) == 1
    assert {c["id"] for c in chunks} == {chunks[0]["id"]} and {c["model"] for c in chunks} == {
        "alpha/m1"
    }
    assert response.headers["x-orchestra-model"] == "alpha/m1"  # who started (sent first)
    # And the final chunk says where the answer was continued, and why
    final = chunks[-1]
    assert final["choices"] == []
    (record,) = final["orchestra"]["continued"]
    assert (record["from"], record["to"], record["after_chars"]) == ("alpha/m1", "beta/c1", 10)
    assert record["reason"].split()[0] == reason
    # And usage adds both calls: alpha's estimated (it reported none), beta's reported
    usage = final["usage"]
    assert usage["completion_tokens"] == 3 + 2  # "Hello, wor" ~ 3 tokens, beta's 2
    assert usage["prompt_tokens"] > 20 and usage["total_tokens"] == (
        usage["prompt_tokens"] + usage["completion_tokens"]
    )
    # And beta was asked to continue the partial answer as a prefill
    sent = beta.requests[0]["body"]
    assert sent["stream"] is True
    assert sent["messages"][-1] == {
        "role": "assistant",
        "content": [{"type": "text", "text": "Hello, wor"}],
    }
    assert sent["messages"][0]["role"] == "user"
    never_forwarded(alpha)
    never_forwarded(beta)


async def test_prefill_whitespace_is_restored_once(tmp_path, upstreams):
    alpha, beta = upstreams["alpha"], upstreams["beta"]
    # Given alpha breaks right after a space, which a prefill may not end with
    alpha.enqueue(broken("reset", ("Hello, ",)))
    beta.enqueue(anthropic_stream(" world", "!"))
    async with gateway(tmp_path, upstreams) as client:
        response = await client.post("/v1/chat/completions", json=chat("beta/c1"))
    chunks = [json.loads(e) for e in data_events(response)[:-1]]
    # Then beta saw "Hello," and the client reads the space once
    assert beta.requests[0]["body"]["messages"][-1]["content"][0]["text"] == "Hello,"
    assert text_of(chunks) == "Hello, world!"


# --- OpenAI-compatible -> OpenAI-compatible (instruction) --------------------------------


async def test_instruction_mode_drops_the_repeated_word_start(tmp_path, upstreams):
    alpha, gamma = upstreams["alpha"], upstreams["gamma"]
    # Given alpha breaks after "Hello, wor" and gamma, asked to continue, repeats "wor"
    alpha.enqueue(broken("reset"))
    gamma.enqueue(
        Reply(
            chunks=[
                openai_chunk("", role="assistant"),
                openai_chunk("wor"),
                openai_chunk("ld!"),
                *openai_end(),
            ],
            headers=SSE,
        )
    )
    async with gateway(tmp_path, upstreams) as client:
        response = await client.post("/v1/chat/completions", json=chat("gamma/m1"))
    events = data_events(response)
    chunks = [json.loads(e) for e in events[:-1]]
    # Then the client reads exactly "Hello, world!" and [DONE]
    assert events[-1] == "[DONE]"
    assert text_of(chunks) == "Hello, world!"
    assert chunks[-1]["orchestra"]["continued"][0]["to"] == "gamma/m1"
    # And gamma got the partial answer as an assistant turn, then the instruction
    messages = gamma.requests[0]["body"]["messages"]
    assert messages[:-2] == HELLO
    assert messages[-2] == {"role": "assistant", "content": "Hello, wor"}
    assert messages[-1] == {"role": "user", "content": CONTINUE_INSTRUCTION}
    never_forwarded(gamma)


async def test_a_continuation_that_breaks_is_continued_again(tmp_path, upstreams):
    alpha, beta, gamma = upstreams["alpha"], upstreams["beta"], upstreams["gamma"]
    # Given alpha breaks, gamma continues with "ld" then breaks too, beta finishes
    alpha.enqueue(broken("reset"))
    gamma.enqueue(broken("truncated", ("ld",)))
    beta.enqueue(anthropic_stream("!"))
    async with gateway(tmp_path, upstreams) as client:
        response = await client.post("/v1/chat/completions", json=chat("gamma/m1", "beta/c1"))
    chunks = [json.loads(e) for e in data_events(response)[:-1]]
    # Then one answer, and the final chunk lists both continuations in order
    assert text_of(chunks) == "Hello, world!"
    hops = [(r["from"], r["to"], r["after_chars"]) for r in chunks[-1]["orchestra"]["continued"]]
    assert hops == [("alpha/m1", "gamma/m1", 10), ("gamma/m1", "beta/c1", 12)]
    assert beta.requests[0]["body"]["messages"][-1]["content"][0]["text"] == "Hello, world"


# --- when a stream is not continued -------------------------------------------------------


def _ends_with_the_error_event(response: httpx.Response) -> dict[str, Any]:
    events = data_events(response)
    assert "[DONE]" not in events
    last = json.loads(events[-1])
    assert last["error"]["code"] == "stream_interrupted"
    return last


@pytest.mark.parametrize(
    ("body", "headers"),
    [
        ({"orchestra": {"continue_streams": False}}, {}),
        ({}, {"x-orchestra-continue-streams": "false"}),
        ({"orchestra": {"continue_streams": True}}, {"x-orchestra-continue-streams": "FALSE"}),
    ],
    ids=["body", "header", "header_wins_off"],
)
async def test_a_request_may_opt_out(tmp_path, upstreams, body, headers):
    alpha, beta = upstreams["alpha"], upstreams["beta"]
    alpha.enqueue(broken("reset"))
    async with gateway(tmp_path, upstreams) as client:
        response = await client.post(
            "/v1/chat/completions", json=chat("beta/c1", **body), headers=headers
        )
    # Then today's explicit error event, and nobody else is called
    _ends_with_the_error_event(response)
    assert beta.requests == []
    never_forwarded(alpha)


async def test_the_gateway_setting_turns_continuation_off(tmp_path, upstreams):
    alpha, beta = upstreams["alpha"], upstreams["beta"]
    alpha.enqueue(broken("reset"))
    async with gateway(tmp_path, upstreams, continue_streams=False) as client:
        response = await client.post("/v1/chat/completions", json=chat("beta/c1"))
    _ends_with_the_error_event(response)
    assert beta.requests == []


async def test_a_half_streamed_tool_call_is_never_continued(tmp_path, upstreams):
    alpha, beta = upstreams["alpha"], upstreams["beta"]
    # Given alpha streams the start of a tool call's arguments, then breaks
    call = {
        "index": 0,
        "id": "call_1",
        "type": "function",
        "function": {"name": "f", "arguments": '{"ci'},
    }
    alpha.enqueue(
        Reply(
            chunks=[
                openai_chunk("", role="assistant"),
                openai_chunk(None, tool_calls=[call]),
                b"x",
            ],
            headers=SSE,
            drop_after=2,
            chunk_delay=0.02,
        )
    )
    async with gateway(tmp_path, upstreams) as client:
        response = await client.post("/v1/chat/completions", json=chat("beta/c1"))
    _ends_with_the_error_event(response)
    assert beta.requests == []


async def test_nothing_left_to_continue_on_keeps_the_error_event(tmp_path, upstreams):
    alpha, beta = upstreams["alpha"], upstreams["beta"]
    # Given beta fails too (an overloaded answer before any byte)
    alpha.enqueue(broken("reset"))
    beta.enqueue(
        Reply.json(
            {"type": "error", "error": {"type": "overloaded_error", "message": "busy"}}, status=529
        )
    )
    async with gateway(tmp_path, upstreams) as client:
        response = await client.post("/v1/chat/completions", json=chat("beta/c1"))
    error = _ends_with_the_error_event(response)
    assert "alpha/m1 failed after the answer had started" in error["error"]["message"]
    assert len(beta.requests) == 1


@pytest.mark.parametrize(
    ("body", "headers", "param"),
    [
        ({"orchestra": {"continue_stream": False}}, {}, "orchestra.continue_stream"),
        ({}, {"x-orchestra-continue-streams": "no"}, "x-orchestra-continue-streams"),
    ],
)
async def test_a_misspelt_option_is_a_400_naming_it(tmp_path, upstreams, body, headers, param):
    async with gateway(tmp_path, upstreams) as client:
        response = await client.post(
            "/v1/chat/completions", json=chat("beta/c1", **body), headers=headers
        )
    assert response.status_code == 400, response.text
    assert response.json()["error"]["param"] == param
    assert upstreams["alpha"].requests == []


# --- other inbound formats -----------------------------------------------------------------


async def test_anthropic_messages_clients_get_one_continuous_answer(tmp_path, upstreams):
    alpha, beta = upstreams["alpha"], upstreams["beta"]
    alpha.enqueue(broken("in_band"))
    beta.enqueue(anthropic_stream("ld!"))
    body = {"model": "auto:quality", "max_tokens": 200, "messages": HELLO, "stream": True}
    async with gateway(tmp_path, upstreams) as client:
        response = await client.post("/v1/messages", json=body)
    assert response.status_code == 200, response.text
    assert response.headers["x-orchestra-model"] == "alpha/m1"
    events = [json.loads(line[6:]) for line in response.text.splitlines() if line[:6] == "data: "]
    kinds = [e["type"] for e in events]
    # Then one message: no error, one text block, its deltas the exact answer, a clean stop
    assert "error" not in kinds and kinds[-1] == "message_stop"
    assert kinds.count("message_start") == 1 and kinds.count("content_block_start") == 1
    deltas = [e["delta"]["text"] for e in events if e["type"] == "content_block_delta"]
    assert "".join(deltas) == "Hello, world!"
    stop = next(e for e in events if e["type"] == "message_delta")
    assert stop["delta"]["stop_reason"] == "end_turn"
    assert stop["usage"]["output_tokens"] == 3 + 2
    # And the continuation went to beta as a prefill, not as the client's own body
    assert beta.requests[0]["body"]["messages"][-1]["content"] == [
        {"type": "text", "text": "Hello, wor"}
    ]


async def test_the_header_opt_out_works_for_anthropic_messages_too(tmp_path, upstreams):
    alpha, beta = upstreams["alpha"], upstreams["beta"]
    alpha.enqueue(broken("reset"))
    body = {"model": "auto:quality", "max_tokens": 200, "messages": HELLO, "stream": True}
    async with gateway(tmp_path, upstreams) as client:
        response = await client.post(
            "/v1/messages", json=body, headers={"x-orchestra-continue-streams": "false"}
        )
    assert "event: error" in response.text
    assert beta.requests == []


async def test_responses_clients_get_one_continuous_answer(tmp_path, upstreams):
    alpha, beta = upstreams["alpha"], upstreams["beta"]
    alpha.enqueue(broken("truncated"))
    beta.enqueue(anthropic_stream("ld!"))
    body = {"model": "auto:quality", "input": "Say hello", "stream": True, "store": False}
    async with gateway(tmp_path, upstreams) as client:
        response = await client.post(
            "/v1/responses", json=body, headers={"x-orchestra-continue-streams": "true"}
        )
    events = [json.loads(line[6:]) for line in response.text.splitlines() if line[:6] == "data: "]
    kinds = [e["type"] for e in events]
    assert "error" not in kinds and kinds[-1] == "response.completed", kinds
    deltas = [e["delta"] for e in events if e["type"] == "response.output_text.delta"]
    assert "".join(deltas) == "Hello, world!"
    assert beta.requests[0]["body"]["messages"][-1]["content"][0]["text"] == "Hello, wor"


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/chat/completions", {"model": "alpha/m1", "messages": HELLO}),
        ("/v1/messages", {"model": "alpha/m1", "max_tokens": 10, "messages": HELLO}),
        ("/v1/responses", {"model": "alpha/m1", "input": "hi"}),
        ("/v1beta/models/alpha/m1:generateContent", {"contents": [{"parts": [{"text": "hi"}]}]}),
    ],
)
async def test_every_format_reads_the_header(tmp_path, upstreams, path, body):
    # Given a value that is neither true nor false, in any inbound format
    async with gateway(tmp_path, upstreams) as client:
        response = await client.post(
            path, json=body, headers={"x-orchestra-continue-streams": "maybe"}
        )
    # Then a 400 in that format's shape, naming the header; no upstream is called
    assert response.status_code == 400, response.text
    assert "x-orchestra-continue-streams" in response.text
    assert upstreams["alpha"].requests == []
