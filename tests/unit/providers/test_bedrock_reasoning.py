"""Bedrock Converse and Claude's extended thinking: ``thinking`` as additional model request
fields, reasoning blocks sent back and read from answers and streams (payloads built from
AWS's documentation: tests/fixtures/bedrock)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from orchestra.providers.base import CallOptions
from orchestra.providers.bedrock_convert import parse_response
from orchestra.schemas.chat import ChatMessage, ChatRequest

from support.bedrock import (
    EVENTSTREAM,
    JSON,
    MODEL,
    bedrock_provider,
    chat_request,
    event_frame,
    tool_call,
)
from support.replay import Replay, assert_chunk_convention, collect, text_of

pytestmark = pytest.mark.usefixtures("bedrock_credentials")

DOCUMENTED = Path(__file__).resolve().parents[2] / "fixtures" / "bedrock"
NOVA = "us.amazon.nova-pro-v1:0"
LLAMA = "meta.llama3-70b-instruct-v1:0"
THINKING = {"type": "thinking", "thinking": "Let me think.", "signature": "sig-1"}
REDACTED = {"type": "redacted_thinking", "data": "EmwKAhgB"}


def _documented(name: str) -> Any:
    return json.loads((DOCUMENTED / name).read_text())


async def _sent(request: ChatRequest, model: str = MODEL) -> dict[str, Any]:
    replay = Replay(body=(DOCUMENTED / "converse_reasoning.json").read_bytes(), headers=JSON)
    await bedrock_provider(replay).complete(request, model, CallOptions())
    return replay.sent_json()


# --- request -------------------------------------------------------------------------


async def test_thinking_goes_in_additional_model_request_fields_for_claude():
    # Given a thinking request with a temperature and an output limit below the budget
    request = chat_request(
        thinking={"type": "enabled", "budget_tokens": 2048}, temperature=0.4, max_tokens=1000
    )
    # When it is sent to a Claude model
    body = await _sent(request)
    # Then thinking is an additional field, temperature goes, the limit clears the budget
    assert body["additionalModelRequestFields"] == {
        "thinking": {"type": "enabled", "budget_tokens": 2048}
    }
    assert body["inferenceConfig"] == {"maxTokens": 3048}


async def test_reasoning_effort_becomes_thinking_for_claude():
    body = await _sent(chat_request(reasoning_effort="low"))
    assert body["additionalModelRequestFields"] == {
        "thinking": {"type": "enabled", "budget_tokens": 1024}
    }
    assert body["inferenceConfig"] == {"maxTokens": 4096}


@pytest.mark.parametrize("model", [NOVA, LLAMA])
async def test_thinking_is_dropped_for_other_models(model):
    request = chat_request(thinking={"type": "enabled", "budget_tokens": 2048}, temperature=0.4)
    body = await _sent(request, model)
    assert "additionalModelRequestFields" not in body
    assert body["inferenceConfig"] == {"temperature": 0.4}


def _conversation() -> ChatRequest:
    return chat_request(
        messages=[
            {"role": "user", "content": "Weather?"},
            {
                "role": "assistant",
                "content": "Checking.",
                "reasoning_content": "Let me think.",
                "thinking_blocks": [THINKING, REDACTED],
                "tool_calls": [tool_call("t1", "weather", "{}")],
            },
            {"role": "tool", "tool_call_id": "t1", "content": "18C", "is_error": True},
        ]
    )


async def test_thinking_blocks_go_back_first_as_reasoning_content_for_claude():
    body = await _sent(_conversation())
    assert body["messages"][1]["content"] == [
        {"reasoningContent": {"reasoningText": {"text": "Let me think.", "signature": "sig-1"}}},
        {"reasoningContent": {"redactedContent": "EmwKAhgB"}},
        {"text": "Checking."},
        {"toolUse": {"toolUseId": "t1", "name": "weather", "input": {}}},
    ]
    assert body["messages"][2]["content"] == [
        {"toolResult": {"toolUseId": "t1", "content": [{"text": "18C"}], "status": "error"}}
    ]


async def test_thinking_blocks_are_dropped_for_other_models():
    body = await _sent(_conversation(), NOVA)
    assert body["messages"][1]["content"] == [
        {"text": "Checking."},
        {"toolUse": {"toolUseId": "t1", "name": "weather", "input": {}}},
    ]
    assert "status" not in body["messages"][2]["content"][0]["toolResult"]


# --- answers -------------------------------------------------------------------------


def test_reasoning_blocks_and_cache_usage_in_an_answer():
    raw = _documented("converse_reasoning.json")
    response = parse_response(raw, MODEL)
    message = response.choices[0].message
    text = raw["output"]["message"]["content"][0]["reasoningContent"]["reasoningText"]
    assert message.reasoning_content == text["text"]
    assert message.thinking_blocks == [
        {"type": "thinking", "thinking": text["text"], "signature": text["signature"]},
        {
            "type": "redacted_thinking",
            "data": "EmwKAhgBEgy3va3pzix/LafPsn4aDFIT2Xlxh0L5L8rLVyIwxtE3rAFBa8cr3qpP",
        },
    ]
    assert message.content == "27 * 453 = 12,231"
    usage = response.usage
    assert usage is not None
    assert (usage.prompt_tokens, usage.completion_tokens) == (18 + 4096 + 104, 211)
    assert (usage.cached_tokens, usage.cache_creation_tokens) == (4096, 104)


async def test_a_parsed_answer_round_trips_its_reasoning_into_the_next_request():
    raw = _documented("converse_reasoning.json")
    message = parse_response(raw, MODEL).choices[0].message
    request = chat_request()
    request.messages.append(ChatMessage.model_validate(message.model_dump()))
    body = await _sent(request)
    assert body["messages"][1]["content"] == raw["output"]["message"]["content"]


def test_recorded_nova_cache_fields_fill_the_details(recorded):
    usage = parse_response(recorded.json("bedrock/converse_text_nova_cache_fields.json"), NOVA)
    assert usage.usage is not None and usage.usage.prompt_tokens == 22
    assert usage.usage.prompt_tokens_details is None  # zero reads and writes


# --- stream --------------------------------------------------------------------------


async def test_a_reasoning_stream():
    # Given the documented events of a Claude stream with thinking, framed as AWS sends them
    events = [
        json.loads(line)
        for line in (DOCUMENTED / "converse_stream_reasoning_events.jsonl").read_text().splitlines()
    ]
    raw = b"".join(event_frame(e["event-type"], e["payload"]) for e in events)
    replay = Replay(body=raw, headers=EVENTSTREAM, piece=29)
    # When it is streamed
    chunks = await collect(bedrock_provider(replay).stream(chat_request(), MODEL, CallOptions()))
    # Then reasoning pieces, the block's signature and the redacted block come through
    assert_chunk_convention(chunks)
    deltas = [c.choices[0].delta for c in chunks if c.choices]
    assert [d.reasoning_content for d in deltas if d.reasoning_content] == [
        "27 * 400 = 10800, ",
        "27 * 53 = 1431.",
    ]
    assert [d.reasoning_signature for d in deltas if d.reasoning_signature] == [
        "ErcBCkgIAhABGAIiQMrT3MRxIUDd2G4Q8ALtU63TJhIhYWk1jh5Qr1g6ia..."
    ]
    assert [d.redacted_thinking for d in deltas if d.redacted_thinking] == [
        "EmwKAhgBEgy3va3pzix/LafPsn4aDFIT2Xlxh0L5L8rLVyIwxtE3rAFBa8cr3qpP"
    ]
    assert text_of(chunks) == "27 * 453 = 12,231"
    usage = chunks[-1].usage
    assert usage is not None
    assert (usage.prompt_tokens, usage.cached_tokens, usage.cache_creation_tokens) == (
        18 + 4096 + 104,
        4096,
        104,
    )
