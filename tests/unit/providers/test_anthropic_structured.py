"""Structured output on Anthropic Messages: ``response_format`` as a reserved, forced tool
(or a system instruction), and that tool's input back as the answer's text, from payloads
built from Anthropic's documented tool-use shapes (tests/fixtures/anthropic)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from orchestra.providers.anthropic import AnthropicProvider
from orchestra.providers.base import CallOptions, ProviderConfig
from orchestra.providers.json_tool import JSON_OBJECT_INSTRUCTION, JSON_TOOL
from orchestra.schemas.chat import ChatRequest, NativeBody

from support.replay import Replay, assert_chunk_convention, collect, text_of

DOCUMENTED = Path(__file__).resolve().parents[2] / "fixtures" / "anthropic"
SSE = {"content-type": "text/event-stream"}
JSON = {"content-type": "application/json"}
PERSON = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
    "required": ["name", "age"],
}
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}


def _documented(name: str) -> bytes:
    return (DOCUMENTED / name).read_bytes()


def _provider(replay: Replay) -> AnthropicProvider:
    config = ProviderConfig(name="anthropic", type="anthropic", api_key="sk-ant-test")
    return AnthropicProvider(config, replay.clients())


def _schema_format(schema: dict[str, Any]) -> dict[str, Any]:
    return {"type": "json_schema", "json_schema": {"name": "answer", "schema": schema}}


def _request(**extra: Any) -> ChatRequest:
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}]
    return ChatRequest.model_validate({"model": "anthropic/claude", "messages": messages, **extra})


async def _sent(request: ChatRequest) -> dict[str, Any]:
    replay = Replay(body=_documented("messages_json_output_tool_use.json"), headers=JSON)
    await _provider(replay).complete(request, "claude-x", CallOptions())
    return dict(replay.sent_json())


def _answer(content: list[dict[str, Any]]) -> bytes:
    raw = json.loads(_documented("messages_json_output_tool_use.json"))
    return json.dumps({**raw, "content": content}).encode()


# --- the body sent -------------------------------------------------------------------


async def test_a_json_schema_is_sent_as_one_forced_tool():
    body = await _sent(_request(response_format=_schema_format(PERSON)))
    assert body["tools"] == [
        {
            "name": JSON_TOOL,
            "description": "Respond with the answer as JSON matching this schema",
            "input_schema": PERSON,
        }
    ]
    assert body["tool_choice"] == {"type": "tool", "name": JSON_TOOL}
    assert body["system"] == "Be brief."  # no instruction needed: the tool is forced


async def test_a_schema_that_is_not_an_object_is_wrapped():
    schema = {"type": "array", "items": {"type": "integer"}}
    body = await _sent(_request(response_format=_schema_format(schema)))
    wrapped = {"type": "object", "properties": {"value": schema}, "required": ["value"]}
    assert body["tools"][0]["input_schema"] == wrapped


async def test_with_its_own_tools_the_request_gets_an_instruction_and_nothing_forced():
    request = _request(response_format=_schema_format(PERSON), tools=[WEATHER], tool_choice="auto")
    body = await _sent(request)
    assert [t["name"] for t in body["tools"]] == ["get_weather"]
    assert body["tool_choice"] == {"type": "auto"}
    assert body["system"].startswith("Be brief.\n\n")
    assert json.dumps(PERSON, separators=(",", ":")) in body["system"]


async def test_own_tools_with_tool_choice_none_still_get_the_forced_tool():
    request = _request(response_format=_schema_format(PERSON), tools=[WEATHER], tool_choice="none")
    body = await _sent(request)
    assert [t["name"] for t in body["tools"]] == ["get_weather", JSON_TOOL]
    assert body["tool_choice"] == {"type": "tool", "name": JSON_TOOL}


async def test_with_thinking_the_tool_is_not_forced_but_asked_for():
    body = await _sent(_request(response_format=_schema_format(PERSON), reasoning_effort="low"))
    assert body["thinking"]["type"] == "enabled"
    assert [t["name"] for t in body["tools"]] == [JSON_TOOL]
    assert body["tool_choice"] == {"type": "auto"}
    assert body["system"].startswith("Be brief.\n\n") and JSON_TOOL in body["system"]


async def test_json_object_is_an_instruction_only():
    body = await _sent(_request(response_format={"type": "json_object"}))
    assert "tools" not in body and "tool_choice" not in body
    assert body["system"] == f"Be brief.\n\n{JSON_OBJECT_INSTRUCTION}"


async def test_an_instruction_goes_after_cached_system_blocks():
    cached = {"type": "text", "text": "Long context", "cache_control": {"type": "ephemeral"}}
    messages = [{"role": "system", "content": [cached]}, {"role": "user", "content": "hi"}]
    request = _request(response_format={"type": "json_object"}, messages=messages)
    body = await _sent(request)
    assert body["system"] == [cached, {"type": "text", "text": JSON_OBJECT_INSTRUCTION}]


async def test_a_native_anthropic_body_is_left_alone():
    native = {"model": "claude", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]}
    request = _request(response_format=_schema_format(PERSON))
    request.with_native(NativeBody(format="anthropic", body=native))
    body = await _sent(request)
    assert body == {**native, "model": "claude-x"}


# --- answers -------------------------------------------------------------------------


async def test_the_reserved_tools_input_is_the_answers_text():
    raw = _documented("messages_json_output_tool_use.json")
    replay = Replay(body=raw, headers=JSON)
    request = _request(response_format=_schema_format(PERSON))
    response = await _provider(replay).complete(request, "claude-x", CallOptions())
    message = response.choices[0].message
    assert message.content is not None
    assert json.loads(message.content) == json.loads(raw)["content"][0]["input"]
    assert message.tool_calls is None
    assert response.choices[0].finish_reason == "stop"


async def test_a_wrapped_value_comes_back_unwrapped():
    block = {"type": "tool_use", "id": "toolu_1", "name": JSON_TOOL, "input": {"value": [1, 2]}}
    replay = Replay(body=_answer([block]), headers=JSON)
    request = _request(response_format=_schema_format({"type": "array"}))
    response = await _provider(replay).complete(request, "claude-x", CallOptions())
    assert response.choices[0].message.content == "[1, 2]"
    assert response.choices[0].finish_reason == "stop"


async def test_without_response_format_a_tool_of_that_name_stays_a_tool_call():
    raw = _documented("messages_json_output_tool_use.json")
    replay = Replay(body=raw, headers=JSON)
    tool = {"type": "function", "function": {"name": JSON_TOOL, "parameters": PERSON}}
    response = await _provider(replay).complete(_request(tools=[tool]), "claude-x", CallOptions())
    calls = response.choices[0].message.tool_calls
    assert calls is not None and calls[0].function.name == JSON_TOOL
    assert response.choices[0].finish_reason == "tool_calls"


# --- streams -------------------------------------------------------------------------


@pytest.mark.parametrize("piece", [None, 5, 64])
async def test_the_reserved_tool_streams_as_text(piece):
    body = _documented("messages_stream_json_output.sse")
    replay = Replay(body=body, headers=SSE, piece=piece)
    request = _request(response_format=_schema_format(PERSON), stream=True)
    chunks = await collect(_provider(replay).stream(request, "claude-x", CallOptions()))
    assert_chunk_convention(chunks)
    assert json.loads(text_of(chunks)) == {"city": "San Francisco"}
    assert not [c for c in chunks if c.choices and c.choices[0].delta.tool_calls]
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert [f for f in finishes if f] == ["stop"]


async def test_a_wrapped_value_streams_unwrapped():
    raw = _documented("messages_stream_json_output.sse").decode()
    raw = raw.replace('"{\\"c"', '"{\\"value\\": [\\"c"').replace('ity\\":', 'ity\\",')
    raw = raw.replace('"sco\\"}"', '"sco\\"]}"')
    replay = Replay(body=raw.encode(), headers=SSE)
    request = _request(response_format=_schema_format({"type": "array"}), stream=True)
    chunks = await collect(_provider(replay).stream(request, "claude-x", CallOptions()))
    assert_chunk_convention(chunks)
    assert json.loads(text_of(chunks)) == ["city", "San Francisco"]
    assert len([c for c in chunks if c.choices and c.choices[0].delta.content]) == 1
