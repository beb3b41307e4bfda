"""The OpenAI SDK's Responses API through the gateway to an OpenAI upstream spoken to over
its own Responses API: built-in tools run upstream, their output items reach the client, and
the gateway keeps the conversation (payloads built from OpenAI's documented examples)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

from orchestra.api.app import create_app
from orchestra.compose import build_services
from orchestra.config import Settings

from support.server import serve_in_thread
from support.upstream import FakeUpstream, Reply, running_in_thread

KEY = "orch-test-key-123"
OPENAI_KEY = "sk-openai-0123456789abcdef"
DOCUMENTED = Path(__file__).resolve().parents[1] / "fixtures" / "openai"
WEB_SEARCH: Any = [{"type": "web_search"}]


def _documented(name: str) -> bytes:
    return (DOCUMENTED / name).read_bytes()


def _served(tmp_path: Path, name: str, kind: str, url: str) -> Iterator[openai.OpenAI]:
    model = {
        "id": "m1",
        "context_window": 128000,
        "quality": 1400,
        "capabilities": ["streaming", "tools", "json"],
    }
    base_url = f"{url}/v1" if kind == "openai" else url
    provider = {"name": name, "type": kind, "base_url": base_url, "api_key_env": "UP_KEY"}
    path = tmp_path / "orchestra.yaml"
    path.write_text(json.dumps({"providers": [{**provider, "models": [model]}]}))
    settings = Settings(
        api_keys=KEY, config=str(path), attempts_per_model=1, request_deadline_s=10.0
    )
    services = build_services(settings, {"UP_KEY": OPENAI_KEY})
    with serve_in_thread(create_app(services)) as gateway:
        yield openai.OpenAI(base_url=f"{gateway}/v1", api_key=KEY, max_retries=0)


@pytest.fixture
def openai_upstream(tmp_path: Path) -> Iterator[tuple[openai.OpenAI, FakeUpstream]]:
    """A gateway whose only provider is OpenAI itself (a fake one, on loopback)."""
    with running_in_thread(FakeUpstream()) as upstream:
        for client in _served(tmp_path, "openai", "openai", upstream.base_url):
            yield client, upstream


def test_web_search_runs_upstream_and_the_client_sees_its_items_and_citations(openai_upstream):
    client, upstream = openai_upstream
    upstream.enqueue(Reply.json(_documented("responses_web_search.json")))
    response = client.responses.create(
        model="openai/m1", input="A positive news story today?", tools=WEB_SEARCH
    )
    # the upstream's own output items, under the gateway's id and model
    assert (
        response.id.startswith("resp_") and response.id != "resp_68c0a1b2c3d4e5f60718293a4b5c6d7e"
    )
    assert response.model == "openai/m1" and response.store is True
    assert [item.type for item in response.output] == ["web_search_call", "message"]
    [annotation] = response.output[1].content[0].annotations  # type: ignore[union-attr]
    assert annotation.type == "url_citation"
    assert annotation.url.startswith("https://example.org/news/community-garden")
    assert response.output_text.startswith("A community garden project opened")
    assert response.usage is not None and response.usage.input_tokens_details.cached_tokens == 128
    # the upstream got the Responses request, with the tool, storing nothing itself
    [sent] = upstream.requests
    assert sent["path"] == "/v1/responses"
    assert sent["headers"]["authorization"] == f"Bearer {OPENAI_KEY}"
    assert sent["body"]["tools"] == WEB_SEARCH and sent["body"]["store"] is False
    assert sent["body"]["model"] == "m1"
    # and the answer was stored as rendered
    fetched = client.responses.retrieve(response.id)
    assert [item.type for item in fetched.output] == ["web_search_call", "message"]


def test_a_second_turn_sends_the_whole_conversation_and_no_previous_response_id(
    openai_upstream,
):
    client, upstream = openai_upstream
    upstream.enqueue(
        Reply.json(_documented("responses_web_search.json")),
        Reply.json(_documented("responses_incomplete.json")),
    )
    first = client.responses.create(
        model="openai/m1", input="A positive news story today?", tools=WEB_SEARCH
    )
    second = client.responses.create(
        model="openai/m1",
        input="Tell it as a story",
        previous_response_id=first.id,
        tools=WEB_SEARCH,
        max_output_tokens=16,
    )
    assert second.previous_response_id == first.id and second.status == "incomplete"
    body = upstream.requests[1]["body"]
    assert "previous_response_id" not in body and body["store"] is False
    assert body["max_output_tokens"] == 16
    roles = [(item["type"], item.get("role")) for item in body["input"]]
    assert roles == [("message", "user"), ("message", "assistant"), ("message", "user")]
    assert body["input"][1]["content"][0]["text"].startswith("A community garden project")
    assert body["input"][2]["content"] == [{"type": "input_text", "text": "Tell it as a story"}]


def test_a_streamed_call_goes_to_the_responses_upstream(openai_upstream):
    client, upstream = openai_upstream
    upstream.enqueue(Reply.sse(_documented("responses_stream_reasoning_text.sse")))
    events = list(
        client.responses.create(
            model="openai/m1",
            input="hello",
            tools=WEB_SEARCH,
            reasoning={"effort": "low", "summary": "auto"},
            stream=True,
        )
    )
    kinds = [e.type for e in events]
    assert kinds[0] == "response.created" and kinds[-1] == "response.completed"
    final = events[-1].response  # type: ignore[union-attr]
    assert final.output_text == "Hello! How can I help today?"
    assert "response.reasoning_summary_text.delta" in kinds
    assert final.usage is not None and final.usage.output_tokens_details.reasoning_tokens == 64
    sent = upstream.requests[0]
    assert sent["path"] == "/v1/responses" and sent["body"]["stream"] is True
    assert sent["body"]["reasoning"] == {"effort": "low", "summary": "auto"}


def test_function_tools_only_to_openai_also_use_its_responses_api(openai_upstream):
    client, upstream = openai_upstream
    upstream.enqueue(Reply.json(_documented("responses_reasoning_function_call.json")))
    tool: Any = {
        "type": "function",
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"location": {"type": "string"}}},
    }
    response = client.responses.create(model="openai/m1", input="Weather?", tools=[tool])
    assert upstream.requests[0]["path"] == "/v1/responses"
    assert [item.type for item in response.output] == ["reasoning", "function_call"]
    assert response.output[1].call_id == "call_9xYzAbCdEfGhIjKlMnOpQrSt"  # type: ignore[union-attr]


def test_without_an_openai_provider_web_search_is_a_400_naming_the_tool(tmp_path):
    with running_in_thread(FakeUpstream()) as upstream:
        for client in _served(tmp_path, "claude", "anthropic", upstream.base_url):
            with pytest.raises(openai.BadRequestError) as info:
                client.responses.create(model="auto", input="news?", tools=WEB_SEARCH)
            assert info.value.param == "tools[0].type"  # type: ignore[attr-defined]
            assert "OpenAI provider" in info.value.message
            assert OPENAI_KEY not in info.value.response.text
    assert upstream.requests == []
