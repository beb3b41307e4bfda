"""Structured output through an Anthropic upstream, end to end: the official OpenAI SDK asks
a real local Orchestra server for ``response_format`` json_schema; a fake Anthropic upstream
on 127.0.0.1 answers with the reserved tool (payloads built from Anthropic's documented
tool-use shapes, tests/fixtures/anthropic)."""

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
from orchestra.providers.json_tool import JSON_TOOL

from support.server import serve_in_thread
from support.upstream import FakeUpstream, Reply, running_in_thread

KEY = "orch-test-key-789"
CLAUDE_KEY = "sk-ant-claude-0123456789abcdef"
CLAUDE = "claude/claude-haiku-4-5"
DOCUMENTED = Path(__file__).resolve().parents[1] / "fixtures" / "anthropic"
PERSON = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "age": {"type": "integer"},
        "tags": {"type": "array", "items": {"type": "string"}},
    },
    "required": ["name", "age", "tags"],
    "additionalProperties": False,
}
RESPONSE_FORMAT: Any = {
    "type": "json_schema",
    "json_schema": {"name": "person", "schema": PERSON, "strict": True},
}
ASK = [{"role": "user", "content": "Who is the youngest?"}]


@pytest.fixture
def claude() -> Iterator[FakeUpstream]:
    with running_in_thread(FakeUpstream()) as upstream:
        yield upstream


@pytest.fixture
def client(tmp_path: Path, claude: FakeUpstream) -> Iterator[openai.OpenAI]:
    provider = {
        "name": "claude",
        "type": "anthropic",
        "base_url": claude.base_url,
        "api_key_env": "CLAUDE_KEY",
        "models": [
            {
                "id": "claude-haiku-4-5",
                "context_window": 200000,
                "quality": 1300,
                "capabilities": ["streaming", "tools"],
            }
        ],
    }
    config = tmp_path / "orchestra.yaml"
    config.write_text(json.dumps({"providers": [provider]}))
    settings = Settings(
        api_keys=KEY, config=str(config), request_deadline_s=10.0, attempts_per_model=1
    )
    services = build_services(settings, {"CLAUDE_KEY": CLAUDE_KEY})
    with serve_in_thread(create_app(services)) as url:
        yield openai.OpenAI(base_url=f"{url}/v1", api_key=KEY, max_retries=0)


def test_json_schema_answered_by_claude_is_json_content(client, claude):
    raw = (DOCUMENTED / "messages_json_output_tool_use.json").read_bytes()
    claude.enqueue(Reply.json(raw))
    completion = client.chat.completions.create(
        model=CLAUDE, messages=ASK, response_format=RESPONSE_FORMAT
    )
    # The client gets the tool's input as its content, a plain stop, no tool calls
    choice = completion.choices[0]
    assert choice.message.content is not None
    assert json.loads(choice.message.content) == json.loads(raw)["content"][0]["input"]
    assert choice.finish_reason == "stop" and not choice.message.tool_calls
    # And the upstream was asked for the reserved tool, forced
    sent = claude.requests[-1]["body"]
    assert [t["name"] for t in sent["tools"]] == [JSON_TOOL]
    assert sent["tools"][0]["input_schema"] == PERSON
    assert sent["tool_choice"] == {"type": "tool", "name": JSON_TOOL}


def test_json_schema_streamed_by_claude_is_json_text(client, claude):
    claude.enqueue(Reply.sse((DOCUMENTED / "messages_stream_json_output.sse").read_bytes(), 40))
    stream = client.chat.completions.create(
        model=CLAUDE, messages=ASK, response_format=RESPONSE_FORMAT, stream=True
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert json.loads(text) == {"city": "San Francisco"}
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert [f for f in finishes if f] == ["stop"]
    assert not any(c.choices and c.choices[0].delta.tool_calls for c in chunks)
    assert claude.requests[-1]["body"]["tool_choice"] == {"type": "tool", "name": JSON_TOOL}
