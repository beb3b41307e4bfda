"""The official Anthropic Python SDK against a real local Orchestra server.

The simulator answers plain requests; fake upstreams on 127.0.0.1 replaying recorded
Anthropic and OpenAI payloads answer the tool round trips, the overloads and the fallbacks.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import httpx
import pytest

from orchestra.api.app import create_app
from orchestra.compose import build_services
from orchestra.config import Settings

from support.gateway import providers_file
from support.server import serve_in_thread
from support.upstream import FakeUpstream, Reply, running_in_thread

KEY = "orch-test-key-456"
ALPHA_KEY = "sk-alpha-0123456789abcdef"
CLAUDE_KEY = "sk-ant-claude-0123456789abcdef"
PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
HI = [{"role": "user", "content": "What is the capital of France?"}]
ALPHA = "alpha/m1"  # an OpenAI-compatible upstream, ranked first
CLAUDE = "claude/claude-haiku-4-5"  # an Anthropic upstream behind it
RETRIEVE = {
    "name": "retrieve_entity_info",
    "description": "Look a person up",
    "input_schema": {"type": "object", "properties": {"name": {"type": "string"}}},
}


@pytest.fixture(scope="module")
def simulated() -> Iterator[anthropic.Anthropic]:
    settings = Settings(api_keys=KEY, simulator_latency_scale=0.05)
    app = create_app(build_services(settings, {}))
    with serve_in_thread(app, loop="uvloop", http="httptools") as url:
        yield anthropic.Anthropic(base_url=url, api_key=KEY, max_retries=0)


@pytest.fixture
def upstreams() -> Iterator[tuple[FakeUpstream, FakeUpstream]]:
    with running_in_thread(FakeUpstream()) as alpha, running_in_thread(FakeUpstream()) as claude:
        yield alpha, claude


@pytest.fixture
def client(
    tmp_path: Path, upstreams: tuple[FakeUpstream, FakeUpstream]
) -> Iterator[anthropic.Anthropic]:
    alpha, claude = upstreams
    with _gateway(tmp_path, alpha.base_url, claude.base_url) as url:
        yield anthropic.Anthropic(base_url=url, api_key=KEY, max_retries=0)


@contextlib.contextmanager
def _gateway(tmp_path: Path, alpha: str, claude: str, **extra: Any) -> Iterator[str]:
    def model(name: str, quality: int) -> dict[str, Any]:
        capabilities = ["streaming", "tools", "vision"]
        return {
            "id": name,
            "context_window": 200000,
            "quality": quality,
            "capabilities": capabilities,
        }

    config = providers_file(
        tmp_path,
        {
            "alpha": ("openai", f"{alpha}/v1", model("m1", 1400)),
            "claude": ("anthropic", claude, model("claude-haiku-4-5", 1300)),
        },
    )
    defaults: dict[str, Any] = {"request_deadline_s": 10.0, "attempts_per_model": 1}
    settings = Settings(api_keys=KEY, config=str(config), **{**defaults, **extra})
    services = build_services(settings, {"ALPHA_KEY": ALPHA_KEY, "CLAUDE_KEY": CLAUDE_KEY})
    with serve_in_thread(create_app(services)) as url:
        yield url


# --- the simulator -------------------------------------------------------------------


def test_sdk_creates_a_message_with_usage_and_routing_headers(simulated):
    raw = simulated.messages.with_raw_response.create(
        model="auto", max_tokens=200, messages=HI, extra_headers={"anthropic-beta": "x-1,x-2"}
    )
    message = raw.parse()
    assert message.type == "message" and message.role == "assistant"
    assert message.model.startswith("simulator/") and message.id.startswith("msg_")
    assert message.content[0].type == "text" and message.content[0].text
    assert message.stop_reason == "end_turn"
    assert message.usage.input_tokens > 0 and message.usage.output_tokens > 0
    assert raw.headers["x-orchestra-model"] == message.model
    assert "x-orchestra-notes" not in raw.headers


def test_sdk_streams_a_message(simulated):
    with simulated.messages.stream(model="auto:budget", max_tokens=200, messages=HI) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text.startswith("The answer is")
    assert final.content[0].text == text
    assert final.stop_reason == "end_turn" and final.usage.output_tokens > 0


def test_sdk_counts_tokens_without_an_upstream_call(simulated):
    count = simulated.messages.count_tokens(
        model="claude-sonnet-4-5", messages=HI, system="Be brief"
    )
    assert count.input_tokens > 0


def test_sdk_sends_an_image(simulated):
    image = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}}
    message = simulated.messages.create(
        model="auto",
        max_tokens=100,
        messages=[{"role": "user", "content": [image, {"type": "text", "text": "What is this?"}]}],
    )
    assert message.content[0].text


def test_sdk_with_a_bearer_token_gets_signed_thinking_from_the_simulator(simulated):
    bearer = anthropic.Anthropic(base_url=str(simulated.base_url), auth_token=KEY, max_retries=0)
    raw = bearer.messages.with_raw_response.create(
        model="auto",
        max_tokens=2048,
        thinking={"type": "enabled", "budget_tokens": 1024},
        messages=HI,
    )
    # the simulator signs its thinking, as Claude does: nothing is dropped
    assert "x-orchestra-notes" not in raw.headers
    message = raw.parse()
    assert [b.type for b in message.content] == ["thinking", "text"]
    assert message.content[0].signature  # type: ignore[union-attr]


def test_thinking_on_a_model_that_cannot_take_it_is_dropped_with_a_note(
    client, upstreams, recorded
):
    alpha, _ = upstreams
    alpha.enqueue(Reply.json(recorded.bytes("openai/chat_completion_basic.json")))
    # Given an OpenAI-compatible upstream (no signed thinking) and a request asking to think
    raw = client.messages.with_raw_response.create(
        model=ALPHA,
        max_tokens=2048,
        thinking={"type": "enabled", "budget_tokens": 1024},
        messages=HI,
    )
    # Then the answer comes without thinking, the header says so, and none went upstream
    assert raw.headers["x-orchestra-notes"] == "thinking_dropped"
    assert [b.type for b in raw.parse().content] == ["text"]
    assert "thinking" not in alpha.requests[-1]["body"]


def test_sdk_bad_input_is_a_bad_request_naming_the_field(simulated):
    bad_image = {
        "type": "image",
        "source": {"type": "base64", "media_type": "image/bmp", "data": "x"},
    }
    with pytest.raises(anthropic.BadRequestError) as info:
        simulated.messages.create(
            model="auto",
            max_tokens=100,
            messages=[{"role": "user", "content": "hi"}, {"role": "user", "content": [bad_image]}],
        )
    assert "messages.1.content.0.source.media_type" in info.value.message
    assert info.value.body["error"]["type"] == "invalid_request_error"
    with pytest.raises(anthropic.BadRequestError) as info:
        simulated.messages.create(
            model="auto", max_tokens=100, messages=HI, extra_body={"temperature": 1.5}
        )
    assert "temperature" in info.value.message


def test_sdk_errors_are_typed(simulated):
    wrong = anthropic.Anthropic(base_url=str(simulated.base_url), api_key="wrong", max_retries=0)
    with pytest.raises(anthropic.AuthenticationError):
        wrong.messages.create(model="auto", max_tokens=10, messages=HI)
    with pytest.raises(anthropic.NotFoundError):
        simulated.messages.create(model="no-such-model", max_tokens=10, messages=HI)


# --- fake upstreams ------------------------------------------------------------------


def test_tool_round_trip_through_an_anthropic_upstream(client, upstreams, recorded):
    _, claude = upstreams
    claude.enqueue(
        Reply.json(recorded.bytes("anthropic/messages_tool_use.json")),
        Reply.json(recorded.bytes("anthropic/messages_basic.json")),
    )
    # Given a first turn answered with four tool_use blocks
    first = client.messages.create(
        model=CLAUDE,
        max_tokens=500,
        tools=[RETRIEVE],
        messages=[{"role": "user", "content": "Who is youngest?"}],
    )
    calls = [b for b in first.content if b.type == "tool_use"]
    assert first.stop_reason == "tool_use" and first.model == CLAUDE
    assert [c.input["name"] for c in calls] == ["Alice", "Bob", "Charlie", "Daisy"]
    # When the client sends the results back (one of them an error)
    results = [
        {"type": "tool_result", "tool_use_id": c.id, "content": f"{c.input['name']} is 30"}
        for c in calls
    ]
    results[-1] |= {"is_error": True, "content": "not found"}
    second = client.messages.create(
        model=CLAUDE,
        max_tokens=500,
        tools=[RETRIEVE],
        messages=[
            {"role": "user", "content": "Who is youngest?"},
            {"role": "assistant", "content": first.content},
            {"role": "user", "content": results},
        ],
    )
    # Then the upstream received the tool_use / tool_result pairs, and the answer is text
    sent = claude.requests[-1]["body"]["messages"]
    sent_results = [b for b in sent[-1]["content"] if b["type"] == "tool_result"]
    assert [b["tool_use_id"] for b in sent_results] == [c.id for c in calls]
    assert [b["id"] for b in sent[1]["content"] if b["type"] == "tool_use"] == [c.id for c in calls]
    assert second.content[0].text == "The capital of France is Paris."


def test_tool_round_trip_through_an_openai_upstream(client, upstreams, recorded):
    alpha, _ = upstreams
    alpha.enqueue(
        Reply.json(recorded.bytes("openai/chat_completion_tool_calls.json")),
        Reply.json(recorded.bytes("openai/chat_completion_basic.json")),
    )
    tools = [
        {"name": n, "input_schema": {"type": "object", "properties": {"path": {"type": "string"}}}}
        for n in ("delete_file", "create_file")
    ]
    # Given an OpenAI upstream answering with two tool calls
    first = client.messages.create(
        model=ALPHA,
        max_tokens=500,
        tools=tools,
        tool_choice={"type": "any", "disable_parallel_tool_use": False},
        messages=[{"role": "user", "content": "Tidy up"}],
    )
    # Then the client sees Anthropic tool_use blocks with parsed input
    assert first.stop_reason == "tool_use"
    assert [(b.type, b.name, b.input) for b in first.content] == [
        ("tool_use", "delete_file", {"path": ".env"}),
        ("tool_use", "create_file", {"path": "test.txt"}),
    ]
    sent = alpha.requests[0]["body"]
    assert sent["tools"][0] == {
        "type": "function",
        "function": {"name": "delete_file", "parameters": tools[0]["input_schema"]},
    }
    assert sent["tool_choice"] == "required"
    # When the results go back
    results = [
        {"type": "tool_result", "tool_use_id": b.id, "content": "done"} for b in first.content
    ]
    second = client.messages.create(
        model=ALPHA,
        max_tokens=500,
        tools=tools,
        messages=[
            {"role": "user", "content": "Tidy up"},
            {"role": "assistant", "content": first.content},
            {"role": "user", "content": results},
        ],
    )
    # Then the OpenAI upstream got tool messages answering its calls
    messages = alpha.requests[1]["body"]["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant", "tool", "tool"]
    assert [c["id"] for c in messages[1]["tool_calls"]] == [m["tool_call_id"] for m in messages[2:]]
    assert second.content[0].text == "Hello! How can I assist you today?"


def test_every_upstream_overloaded_is_a_529(client, upstreams, recorded):
    alpha, claude = upstreams
    alpha.default = Reply.json(recorded.bytes("openai/error_503_overloaded.json"), status=503)
    claude.default = Reply.json(
        recorded.bytes("anthropic/error_529_overloaded_error.json"), status=529
    )
    with pytest.raises(anthropic.InternalServerError) as info:
        client.messages.create(model="auto:quality", max_tokens=100, messages=HI)
    assert info.value.status_code == 529
    assert info.value.body["error"]["type"] == "overloaded_error"
    assert ALPHA_KEY not in str(info.value.body) and CLAUDE_KEY not in str(info.value.body)


def test_a_failing_upstream_falls_back_to_a_healthy_one(client, upstreams, recorded):
    alpha, claude = upstreams
    alpha.default = Reply.json(recorded.bytes("openai/error_500_server_error.json"), status=500)
    claude.enqueue(Reply.json(recorded.bytes("anthropic/messages_basic.json")))
    raw = client.messages.with_raw_response.create(
        model="auto:quality", max_tokens=100, messages=HI
    )
    assert raw.parse().content[0].text == "The capital of France is Paris."
    assert raw.headers["x-orchestra-model"] == CLAUDE
    assert raw.headers["x-orchestra-attempts"].startswith(ALPHA)


def test_a_failing_upstream_falls_back_before_the_stream_starts(client, upstreams, recorded):
    alpha, claude = upstreams
    alpha.default = Reply.json(recorded.bytes("openai/error_500_server_error.json"), status=500)
    claude.enqueue(Reply.sse(recorded.bytes("anthropic/messages_stream_text.sse")))
    with client.messages.stream(model="auto:quality", max_tokens=100, messages=HI) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == "2" and final.model == CLAUDE
    assert final.stop_reason == "end_turn" and final.usage.output_tokens > 0


def test_a_stream_keeps_alive_with_pings_and_ends_a_cut_with_an_error_event(
    tmp_path, upstreams, recorded
):
    _, claude = upstreams
    raw = recorded.bytes("anthropic/messages_stream_text.sse")
    # Given an Anthropic upstream that pauses mid-answer, then drops the connection
    pieces = Reply.sse(raw, piece=120).chunks or []
    claude.enqueue(
        Reply.sse(raw, piece=120, pauses={len(pieces) - 2: 0.5}, drop_after=len(pieces) - 1)
    )
    body = {"model": CLAUDE, "max_tokens": 50, "stream": True, "messages": HI}
    with _gateway(tmp_path, "http://127.0.0.1:9", claude.base_url, stream_keepalive_s=0.1) as url:
        # When a client streams the answer
        reply = httpx.post(f"{url}/v1/messages", json=body, headers={"x-api-key": KEY}, timeout=10)
    events = [
        line.removeprefix("event: ")
        for line in reply.text.splitlines()
        if line.startswith("event: ")
    ]
    # Then silences are filled with Anthropic pings, and the cut stream ends with an error
    assert events[:2] == ["message_start", "ping"] and events.count("ping") >= 3
    assert events[-1] == "error" and "message_stop" not in events
    error = json.loads(reply.text.rstrip().splitlines()[-1].removeprefix("data: "))
    assert error["type"] == "error" and error["error"]["type"] == "api_error"
    assert CLAUDE_KEY not in reply.text
