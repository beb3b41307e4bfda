"""Structured output on Bedrock Converse: ``response_format`` as a reserved, forced tool (or a
system instruction), and that tool's input back as the answer's text, from payloads built
from the documented Converse shapes (tests/fixtures/bedrock) and hand-built stream frames."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from orchestra.providers.base import CallOptions
from orchestra.providers.json_tool import JSON_OBJECT_INSTRUCTION, JSON_TOOL

from support.bedrock import (
    EVENTSTREAM,
    JSON,
    MODEL,
    WEATHER,
    bedrock_provider,
    chat_request,
    event_frame,
)
from support.replay import Replay, assert_chunk_convention, collect, text_of

pytestmark = pytest.mark.usefixtures("bedrock_credentials")

DOCUMENTED = Path(__file__).resolve().parents[2] / "fixtures" / "bedrock"
NOVA = "amazon.nova-pro-v1:0"
PLACE = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "temperature_c": {"type": "number"}},
    "required": ["city"],
}


def _schema_format(schema: dict[str, Any]) -> dict[str, Any]:
    return {"type": "json_schema", "json_schema": {"name": "place", "schema": schema}}


def _answer(tool_input: Any = None) -> bytes:
    raw = (DOCUMENTED / "converse_json_output_tool_use.json").read_bytes()
    if tool_input is None:
        return raw
    body = json.loads(raw)
    body["output"]["message"]["content"][0]["toolUse"]["input"] = tool_input
    return json.dumps(body).encode()


async def _sent(model: str = MODEL, **extra: Any) -> dict[str, Any]:
    replay = Replay(body=_answer(), headers=JSON)
    request = chat_request(**extra)
    await bedrock_provider(replay).complete(request, model, CallOptions())
    return dict(replay.sent_json())


# --- the body sent -------------------------------------------------------------------


@pytest.mark.parametrize("model", [MODEL, NOVA])
async def test_a_json_schema_is_sent_as_one_forced_tool(model):
    body = await _sent(model, response_format=_schema_format(PLACE))
    spec = {
        "name": JSON_TOOL,
        "description": "Respond with the answer as JSON matching this schema",
        "inputSchema": {"json": PLACE},
    }
    assert body["toolConfig"] == {
        "tools": [{"toolSpec": spec}],
        "toolChoice": {"tool": {"name": JSON_TOOL}},
    }
    assert "system" not in body


async def test_a_schema_that_is_not_an_object_is_wrapped():
    schema = {"type": "string", "enum": ["yes", "no"]}
    body = await _sent(response_format=_schema_format(schema))
    wrapped = {"type": "object", "properties": {"value": schema}, "required": ["value"]}
    assert body["toolConfig"]["tools"][0]["toolSpec"]["inputSchema"] == {"json": wrapped}


async def test_with_its_own_tools_the_request_gets_an_instruction_and_nothing_forced():
    body = await _sent(response_format=_schema_format(PLACE), tools=[WEATHER], tool_choice="auto")
    names = [t["toolSpec"]["name"] for t in body["toolConfig"]["tools"]]
    assert names == ["weather"]
    assert body["toolConfig"]["toolChoice"] == {"auto": {}}
    assert len(body["system"]) == 1
    assert json.dumps(PLACE, separators=(",", ":")) in body["system"][0]["text"]


async def test_with_thinking_the_tool_is_not_forced_but_asked_for():
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}]
    body = await _sent(
        response_format=_schema_format(PLACE), reasoning_effort="low", messages=messages
    )
    assert body["additionalModelRequestFields"]["thinking"]["type"] == "enabled"
    assert body["toolConfig"]["toolChoice"] == {"auto": {}}
    assert body["system"][0] == {"text": "Be brief."}
    assert JSON_TOOL in body["system"][1]["text"]


async def test_json_object_is_an_instruction_only():
    body = await _sent(response_format={"type": "json_object"})
    assert "toolConfig" not in body
    assert body["system"] == [{"text": JSON_OBJECT_INSTRUCTION}]


# --- answers -------------------------------------------------------------------------


async def test_the_reserved_tools_input_is_the_answers_text():
    replay = Replay(body=_answer(), headers=JSON)
    request = chat_request(response_format=_schema_format(PLACE))
    response = await bedrock_provider(replay).complete(request, MODEL, CallOptions())
    message = response.choices[0].message
    assert message.content is not None
    assert json.loads(message.content) == {"city": "Paris", "temperature_c": 18.5}
    assert message.tool_calls is None
    assert response.choices[0].finish_reason == "stop"


async def test_a_wrapped_value_comes_back_unwrapped():
    replay = Replay(body=_answer({"value": "yes"}), headers=JSON)
    request = chat_request(response_format=_schema_format({"type": "string"}))
    response = await bedrock_provider(replay).complete(request, MODEL, CallOptions())
    assert response.choices[0].message.content == '"yes"'
    assert response.choices[0].finish_reason == "stop"


async def test_without_response_format_a_tool_of_that_name_stays_a_tool_call():
    replay = Replay(body=_answer(), headers=JSON)
    response = await bedrock_provider(replay).complete(chat_request(), MODEL, CallOptions())
    calls = response.choices[0].message.tool_calls
    assert calls is not None and calls[0].function.name == JSON_TOOL
    assert response.choices[0].finish_reason == "tool_calls"


# --- streams -------------------------------------------------------------------------


def _stream(pieces: list[str]) -> bytes:
    start = {"toolUse": {"toolUseId": "tooluse_8ZVLMmsdearTDSS0unN07z", "name": JSON_TOOL}}
    deltas = [
        event_frame(
            "contentBlockDelta", {"contentBlockIndex": 0, "delta": {"toolUse": {"input": p}}}
        )
        for p in pieces
    ]
    return b"".join(
        [
            event_frame("messageStart", {"role": "assistant"}),
            event_frame("contentBlockStart", {"contentBlockIndex": 0, "start": start}),
            *deltas,
            event_frame("contentBlockStop", {"contentBlockIndex": 0}),
            event_frame("messageStop", {"stopReason": "tool_use"}),
            event_frame("metadata", {"usage": {"inputTokens": 560, "outputTokens": 53}}),
        ]
    )


async def _stream_chunks(raw: bytes, response_format: dict[str, Any]) -> list:
    replay = Replay(body=raw, headers=EVENTSTREAM, piece=11)
    request = chat_request(response_format=response_format, stream=True)
    return await collect(bedrock_provider(replay).stream(request, MODEL, CallOptions()))


async def test_the_reserved_tool_streams_as_text():
    raw = _stream(['{"ci', 'ty": "Par', 'is", "temperature_c": 18.5}'])
    chunks = await _stream_chunks(raw, _schema_format(PLACE))
    assert_chunk_convention(chunks)
    assert json.loads(text_of(chunks)) == {"city": "Paris", "temperature_c": 18.5}
    assert not [c for c in chunks if c.choices and c.choices[0].delta.tool_calls]
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert [f for f in finishes if f] == ["stop"]


async def test_a_wrapped_value_streams_unwrapped():
    raw = _stream(['{"val', 'ue": ["a",', ' "b"]}'])
    chunks = await _stream_chunks(raw, _schema_format({"type": "array"}))
    assert_chunk_convention(chunks)
    assert json.loads(text_of(chunks)) == ["a", "b"]
