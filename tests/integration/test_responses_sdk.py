"""The official OpenAI SDK's Responses API against a real local Orchestra server: the
simulator behind it, or fake OpenAI-compatible upstreams replaying recorded payloads."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

from orchestra.api.app import create_app
from orchestra.compose import build_services
from orchestra.config import Settings

from support.gateway import openai_providers
from support.server import serve_in_thread
from support.upstream import FakeUpstream, Reply, running_in_thread

KEY = "orch-test-key-123"
ALPHA_KEY = "sk-alpha-0123456789abcdef"
BETA_KEY = "sk-beta-fedcba9876543210"
TOOLS: list[Any] = [
    {
        "type": "function",
        "name": name,
        "description": f"{name} a file",
        "parameters": {"type": "object", "properties": {"path": {"type": "string"}}},
    }
    for name in ("delete_file", "create_file")
]


@pytest.fixture(scope="module")
def client() -> Iterator[openai.OpenAI]:
    settings = Settings(api_keys=KEY, simulator_latency_scale=0.05)
    app = create_app(build_services(settings, {}))
    with serve_in_thread(app) as url:
        yield openai.OpenAI(base_url=f"{url}/v1", api_key=KEY, max_retries=0)


def test_a_string_input_gets_a_response_with_output_text_and_usage(client):
    response = client.responses.create(model="auto", input="What is 6*7?", instructions="Brief.")
    assert response.object == "response" and response.id.startswith("resp_")
    assert response.status == "completed" and response.model.startswith("simulator/")
    assert response.output_text and response.output[-1].type == "message"
    assert response.usage is not None and response.usage.total_tokens > 0
    assert response.instructions == "Brief." and response.store is True


def test_items_input_and_a_follow_up_turn_read_back_by_get(client):
    first = client.responses.create(
        model="auto:budget",
        input=[
            {"role": "developer", "content": "Answer in one line."},
            {"role": "user", "content": [{"type": "input_text", "text": "Name a colour"}]},
        ],
    )
    second = client.responses.create(
        model="auto", input="And another", previous_response_id=first.id
    )
    assert second.previous_response_id == first.id and second.output_text
    fetched = client.responses.retrieve(second.id)
    assert fetched.id == second.id and fetched.output_text == second.output_text
    with pytest.raises(openai.NotFoundError) as info:
        client.responses.retrieve("resp_unknown")
    assert info.value.body["param"] == "response_id"  # type: ignore[index]


def test_the_sdk_stream_helper_parses_every_event_and_the_final_response(client):
    with client.responses.stream(model="auto", input="Tell me about Paris") as stream:
        kinds = [event.type for event in stream]
        final = stream.get_final_response()
    assert kinds[:2] == ["response.created", "response.in_progress"]
    assert "response.output_text.delta" in kinds and kinds[-1] == "response.completed"
    assert final.output_text and final.usage is not None and final.usage.output_tokens > 0
    # the streamed answer was stored too
    assert client.responses.retrieve(final.id).output_text == final.output_text


def test_create_with_stream_true_yields_typed_events(client):
    events = list(client.responses.create(model="auto", input="hello", stream=True))
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert events[-1].type == "response.completed"
    assert events[-1].response.output_text == text
    numbers = [e.sequence_number for e in events]
    assert numbers == sorted(numbers) and len(set(numbers)) == len(numbers)


def test_store_false_keeps_nothing_so_a_follow_up_is_not_found(client):
    unstored = client.responses.create(model="auto", input="hi", store=False)
    with pytest.raises(openai.NotFoundError) as info:
        client.responses.create(model="auto", input="again", previous_response_id=unstored.id)
    assert info.value.body["param"] == "previous_response_id"  # type: ignore[index]
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(unstored.id)


@pytest.mark.parametrize(
    ("extra", "param"),
    [
        ({"input": "x", "tools": [{"type": "web_search"}]}, "tools[0].type"),
        (
            {"input": [{"role": "user", "content": [{"type": "input_image", "file_id": "f"}]}]},
            "input[0].content[0].file_id",
        ),
        ({"input": "x", "temperature": 5}, "temperature"),
    ],
)
def test_bad_input_is_a_bad_request_naming_the_field(client, extra, param):
    with pytest.raises(openai.BadRequestError) as info:
        client.responses.create(model="auto", **extra)
    assert info.value.param == param  # type: ignore[attr-defined]


# --- fake OpenAI-compatible upstreams ------------------------------------------------------


def _config(tmp_path: Path, alpha: str, beta: str) -> Path:
    def model(quality: int) -> dict[str, Any]:
        capabilities = ["streaming", "tools", "json"]
        return {
            "id": "m1",
            "context_window": 128000,
            "quality": quality,
            "capabilities": capabilities,
        }

    return openai_providers(tmp_path, {"alpha": (alpha, model(1400)), "beta": (beta, model(1300))})


@pytest.fixture
def upstreams(tmp_path: Path) -> Iterator[tuple[openai.OpenAI, FakeUpstream, FakeUpstream]]:
    with running_in_thread(FakeUpstream()) as alpha, running_in_thread(FakeUpstream()) as beta:
        settings = Settings(
            api_keys=KEY,
            config=str(_config(tmp_path, alpha.base_url, beta.base_url)),
            attempts_per_model=1,
            request_deadline_s=10.0,
        )
        services = build_services(settings, {"ALPHA_KEY": ALPHA_KEY, "BETA_KEY": BETA_KEY})
        with serve_in_thread(create_app(services)) as url:
            yield openai.OpenAI(base_url=f"{url}/v1", api_key=KEY, max_retries=0), alpha, beta


def test_text_format_json_schema_reaches_the_upstream_as_response_format(upstreams, recorded):
    client, alpha, _ = upstreams
    alpha.enqueue(Reply.json(recorded.bytes("openai/chat_completion_basic.json")))
    schema = {
        "type": "object",
        "properties": {"answer": {"type": "string"}},
        "required": ["answer"],
        "additionalProperties": False,
    }
    response = client.responses.create(
        model="alpha/m1",
        input="Answer in JSON",
        text={"format": {"type": "json_schema", "name": "reply", "schema": schema, "strict": True}},
    )
    assert response.output_text == "Hello! How can I assist you today?"
    sent = alpha.requests[0]["body"]
    assert sent["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "reply", "schema": schema, "strict": True},
    }
    assert "text" not in sent and "store" not in sent and "input" not in sent


def test_a_tool_round_trip_over_previous_response_id(upstreams, recorded):
    client, alpha, _ = upstreams
    # Given alpha answers with two tool calls, then with text
    alpha.enqueue(
        Reply.json(recorded.bytes("openai/chat_completion_tool_calls.json")),
        Reply.json(recorded.bytes("openai/chat_completion_basic.json")),
    )
    # When the client asks with function tools
    first = client.responses.create(
        model="alpha/m1", input="Delete .env and create test.txt", tools=TOOLS
    )
    calls = [item for item in first.output if item.type == "function_call"]
    assert [(c.name, c.call_id) for c in calls] == [
        ("delete_file", "call_jYdIdRZHxZTn5bWCq5jlMrJi"),
        ("create_file", "call_TmlTVWQbzrXCZ4jNsCVNbNqu"),
    ]
    assert alpha.requests[0]["body"]["tools"][0] == {
        "type": "function",
        "function": {k: v for k, v in TOOLS[0].items() if k != "type"},
    }
    # And sends the results back on the next turn
    second = client.responses.create(
        model="alpha/m1",
        previous_response_id=first.id,
        tools=TOOLS,
        input=[
            {"type": "function_call_output", "call_id": c.call_id, "output": "ok"} for c in calls
        ],
    )
    # Then the upstream saw the whole conversation, and the answer is the text
    assert second.output_text == "Hello! How can I assist you today?"
    messages = alpha.requests[1]["body"]["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant", "tool", "tool"]
    assert [c["id"] for c in messages[1]["tool_calls"]] == [c.call_id for c in calls]
    assert messages[1]["tool_calls"][0]["function"]["arguments"] == '{"path": ".env"}'
    assert [(m["tool_call_id"], m["content"]) for m in messages[2:]] == [
        (c.call_id, "ok") for c in calls
    ]


def test_a_failing_upstream_falls_back_to_a_healthy_one(upstreams, recorded):
    client, alpha, beta = upstreams
    error = recorded.bytes("openai/error_500_server_error.json")
    alpha.enqueue(Reply.json(error, status=500))
    beta.enqueue(Reply.json(recorded.bytes("openai/chat_completion_basic.json")))
    raw = client.responses.with_raw_response.create(
        model="alpha/m1", input="Say hello", extra_body={"fallbacks": ["beta/m1"]}
    )
    response = raw.parse()
    assert response.model == "beta/m1" and response.output_text.startswith("Hello!")
    assert raw.headers["x-orchestra-model"] == "beta/m1"
    assert raw.headers["x-orchestra-attempts"].split(";")[0].startswith("alpha/m1=")
    assert ALPHA_KEY not in raw.http_response.text


def test_a_failing_upstream_falls_back_before_the_stream_starts(upstreams, recorded):
    client, alpha, beta = upstreams
    alpha.enqueue(Reply.json(recorded.bytes("openai/error_500_server_error.json"), status=500))
    beta.enqueue(Reply.sse(recorded.bytes("openai/chat_completion_stream_include_usage.sse")))
    with client.responses.stream(
        model="alpha/m1", input="Say hello", extra_body={"fallbacks": ["beta/m1"]}
    ) as stream:
        final = stream.get_final_response()
    assert final.model == "beta/m1" and final.output_text
    assert final.usage is not None and final.usage.total_tokens > 0


def test_a_stream_cut_after_it_started_ends_with_error_and_response_failed(upstreams, recorded):
    client, alpha, _ = upstreams
    sse = recorded.bytes("openai/chat_completion_stream_include_usage.sse")
    # a pause after each piece lets it leave before the connection is cut (an abort drops
    # whatever is still buffered)
    alpha.enqueue(Reply.sse(sse, piece=400, drop_after=2, chunk_delay=0.05))
    events = list(client.responses.create(model="alpha/m1", input="Say hello", stream=True))
    kinds = [e.type for e in events]
    assert "response.output_text.delta" in kinds
    assert kinds[-2:] == ["error", "response.failed"]
    failed = events[-1].response
    assert failed.status == "failed" and failed.error is not None
    assert ALPHA_KEY not in failed.error.message
