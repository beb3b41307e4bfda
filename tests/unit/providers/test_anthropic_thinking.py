"""Anthropic answers and streams with thinking, redacted thinking and prompt-cache usage,
from payloads built from Anthropic's documentation (tests/fixtures/anthropic)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from orchestra.providers.anthropic import AnthropicProvider, parse_response, to_body
from orchestra.providers.base import CallOptions, ProviderConfig
from orchestra.schemas.chat import ChatMessage, ChatRequest

from support.replay import Replay, assert_chunk_convention, collect, text_of

DOCUMENTED = Path(__file__).resolve().parents[2] / "fixtures" / "anthropic"
SSE = {"content-type": "text/event-stream"}
JSON = {"content-type": "application/json"}


def _documented(name: str) -> bytes:
    return (DOCUMENTED / name).read_bytes()


def _provider(replay: Replay) -> AnthropicProvider:
    config = ProviderConfig(name="anthropic", type="anthropic", api_key="sk-ant-test")
    return AnthropicProvider(config, replay.clients())


def _request() -> ChatRequest:
    return ChatRequest.model_validate(
        {"model": "anthropic/claude", "messages": [{"role": "user", "content": "hi"}]}
    )


def test_thinking_blocks_and_cache_usage_in_an_answer():
    # Given a documented answer with signed and redacted thinking, text and a tool use
    raw = json.loads(_documented("messages_thinking_tool_use.json"))
    # When it is parsed
    response = parse_response(raw, "claude-x")
    # Then the blocks are kept verbatim, the thinking text is the reasoning
    message = response.choices[0].message
    assert message.thinking_blocks == raw["content"][:2]
    assert message.reasoning_content == raw["content"][0]["thinking"]
    assert message.content == "Let me check the weather."
    assert message.tool_calls and message.tool_calls[0].function.name == "get_weather"
    assert response.choices[0].finish_reason == "tool_calls"
    # And the prompt count includes the cache reads and writes, which the details break out
    usage = response.usage
    assert usage is not None
    assert (usage.prompt_tokens, usage.completion_tokens) == (12 + 1500 + 2048, 285)
    assert (usage.cached_tokens, usage.cache_creation_tokens) == (2048, 1500)
    assert usage.total_tokens == 12 + 1500 + 2048 + 285


def test_a_parsed_answer_with_thinking_goes_back_first_in_the_next_turn():
    raw = json.loads(_documented("messages_thinking_tool_use.json"))
    message = parse_response(raw, "claude-x").choices[0].message
    request = _request()
    request.messages.append(ChatMessage.model_validate(message.model_dump()))
    body = to_body(request, "claude-x", stream=False)
    assert body["messages"][1]["content"] == raw["content"]


async def test_the_answer_keeps_fields_the_gateway_does_not_model_in_its_native_body():
    raw = _documented("messages_document_answer.json")
    replay = Replay(body=raw, headers=JSON)
    response = await _provider(replay).complete(_request(), "claude-x", CallOptions())
    assert response.text() == "The document is a one-page invoice dated 2025-03-01."
    assert response.native is not None and response.native.body == json.loads(raw)
    assert response.native.body["container"]["id"] == "container_011CPR5CNjB747bTd36fQLFk"
    assert response.usage is not None and response.usage.prompt_tokens_details is None


@pytest.mark.parametrize("piece", [None, 7, 64])
async def test_a_thinking_stream(piece):
    # Given a documented stream: a signed thinking block, a redacted block, then text
    replay = Replay(body=_documented("messages_stream_thinking.sse"), headers=SSE, piece=piece)
    # When it is streamed
    chunks = await collect(_provider(replay).stream(_request(), "claude-x", CallOptions()))
    # Then the convention holds and reasoning arrives as pieces, a signature, a redacted block
    assert_chunk_convention(chunks)
    deltas = [c.choices[0].delta for c in chunks if c.choices]
    reasoning = [d.reasoning_content for d in deltas if d.reasoning_content]
    assert reasoning == [
        "Let me solve this step by step:\n\n1. First break down 27 * 453",
        "\n2. 453 = 400 + 50 + 3",
    ]
    signatures = [d.reasoning_signature for d in deltas if d.reasoning_signature]
    assert signatures == ["EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds..."]
    redacted = [d.redacted_thinking for d in deltas if d.redacted_thinking]
    assert redacted == ["EmwKAhgBEgy3va3pzix/LafPsn4aDFIT2Xlxh0L5L8rLVyIwxtE3rAFBa8cr3qpP"]
    order = [
        "r" if d.reasoning_content else "s" if d.reasoning_signature else "x"
        for d in deltas
        if d.reasoning_content or d.reasoning_signature or d.redacted_thinking
    ]
    assert order == ["r", "r", "s", "x"]
    assert text_of(chunks) == "27 * 453 = 12,231"
    # And the usage chunk carries the prompt (cache reads and writes included) and details
    usage = chunks[-1].usage
    assert usage is not None
    assert (usage.prompt_tokens, usage.completion_tokens) == (20 + 100 + 3000, 342)
    assert (usage.cached_tokens, usage.cache_creation_tokens) == (3000, 100)


async def test_recorded_stream_usage_repeated_in_message_delta_is_counted_once(recorded):
    raw = recorded.bytes("anthropic/messages_stream_tool_use_no_args.sse")
    replay = Replay(body=raw, headers=SSE)
    chunks = await collect(_provider(replay).stream(_request(), "claude-x", CallOptions()))
    usage = chunks[-1].usage
    assert usage is not None and (usage.prompt_tokens, usage.completion_tokens) == (543, 40)
    assert usage.prompt_tokens_details is None  # no cache reads or writes
