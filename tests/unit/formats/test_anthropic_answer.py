"""Anthropic Messages answers out: the internal answer as an Anthropic message."""

from __future__ import annotations

from typing import Any

from orchestra.formats.anthropic_answer import render_message, render_usage, thinking_unsigned
from orchestra.schemas.chat import ChatResponse, NativeBody, Usage


def _response(message: dict[str, Any], finish: str = "stop", **kw: Any) -> ChatResponse:
    return ChatResponse.model_validate(
        {"model": "x", "choices": [{"message": message, "finish_reason": finish}], **kw}
    )


def test_thinking_text_and_tool_calls_in_anthropic_order():
    # Given an answer with signed thinking, text and a tool call
    thinking = {"type": "thinking", "thinking": "Hmm.", "signature": "sig"}
    response = _response(
        {
            "content": "Let me look.",
            "reasoning_content": "Hmm.",
            "thinking_blocks": [thinking],
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "search", "arguments": '{"q": "paris"}'},
                }
            ],
        },
        "tool_calls",
        usage=Usage.of(120, 30, cached=100, cache_creation=5).model_dump(),
    )
    # When rendered
    message = render_message(response, "anthropic/claude-sonnet-4-5")
    # Then thinking comes first, then text, then tool_use with parsed input
    assert message["id"].startswith("msg_")
    assert (message["type"], message["role"]) == ("message", "assistant")
    assert message["model"] == "anthropic/claude-sonnet-4-5"
    assert message["content"] == [
        thinking,
        {"type": "text", "text": "Let me look."},
        {"type": "tool_use", "id": "call_1", "name": "search", "input": {"q": "paris"}},
    ]
    assert message["stop_reason"] == "tool_use" and message["stop_sequence"] is None
    # and input_tokens leaves out the cache reads and writes
    assert message["usage"] == {
        "input_tokens": 15,
        "output_tokens": 30,
        "cache_read_input_tokens": 100,
        "cache_creation_input_tokens": 5,
    }
    assert not thinking_unsigned(response)


def test_stop_reasons_map_to_anthropic_names():
    reasons = {
        finish: render_message(_response({"content": "x"}, finish), "m")["stop_reason"]
        for finish in ("stop", "length", "tool_calls", "content_filter")
    }
    assert reasons == {
        "stop": "end_turn",
        "length": "max_tokens",
        "tool_calls": "tool_use",
        "content_filter": "refusal",
    }


def test_unsigned_reasoning_is_left_out_and_flagged():
    response = _response({"content": "4", "reasoning_content": "2+2 is 4"})
    assert render_message(response, "m")["content"] == [{"type": "text", "text": "4"}]
    assert thinking_unsigned(response)


def test_an_anthropic_upstream_answer_passes_through_with_our_model_id(recorded):
    body = recorded.json("anthropic/messages_tool_use.json")
    response = _response({"content": "ignored"}).with_native(
        NativeBody(format="anthropic", body=body)
    )
    message = render_message(response, "anthropic/claude-haiku-4-5")
    assert message == {**body, "model": "anthropic/claude-haiku-4-5"}


def test_a_native_body_of_another_format_is_not_passed_through():
    native = NativeBody(format="gemini", body={"candidates": []})
    message = render_message(_response({"content": "hi"}).with_native(native), "m")
    assert message["content"] == [{"type": "text", "text": "hi"}]


def test_usage_without_details():
    assert render_usage(Usage.of(10, 2)) == {
        "input_tokens": 10,
        "output_tokens": 2,
        "cache_read_input_tokens": 0,
        "cache_creation_input_tokens": 0,
    }
