"""Gemini generateContent out: chat answers rendered as GenerateContentResponse bodies."""

from __future__ import annotations

import pytest

from orchestra.formats.gemini import render_response
from orchestra.providers.gemini import parse_response
from orchestra.schemas.chat import ChatResponse, NativeBody


def test_a_recorded_gemini_answer_round_trips_through_the_adapter(recorded):
    # Given Gemini's recorded answer read by the outbound adapter (native body dropped)
    raw = recorded.json("gemini/generate_content.json")
    response = parse_response(raw, "gemini-2.5-flash")
    # When it is rendered for a Gemini client
    body = render_response(response, "google/gemini-2.5-flash", thoughts=False)
    # Then the answer, finish and counts read as Gemini's own
    candidate = body["candidates"][0]
    assert candidate["content"] == {
        "role": "model",
        "parts": [{"text": raw["candidates"][0]["content"]["parts"][0]["text"]}],
    }
    assert candidate["finishReason"] == "STOP"
    usage = body["usageMetadata"]
    assert usage["promptTokenCount"] == 9 and usage["totalTokenCount"] == 52
    assert usage["candidatesTokenCount"] + usage.get("thoughtsTokenCount", 0) == 43
    assert body["modelVersion"] == "google/gemini-2.5-flash"


def test_recorded_function_calls_are_rendered_as_function_call_parts(recorded):
    raw = recorded.json("gemini/generate_content_function_calls.json")
    body = render_response(parse_response(raw, "gemini-3-flash-preview"), "g/3", thoughts=False)
    parts = body["candidates"][0]["content"]["parts"]
    assert [p["functionCall"]["name"] for p in parts] == ["generate_topic"] * 3
    assert all(p["functionCall"]["args"] == {} for p in parts)


def test_a_native_gemini_answer_passes_through_with_the_routed_model(recorded):
    raw = recorded.json("gemini/generate_content_function_calls.json")
    response = parse_response(raw, "m").with_native(NativeBody(format="gemini", body=raw))
    body = render_response(response, "google/gemini-3-flash", thoughts=False)
    assert body == {**raw, "modelVersion": "google/gemini-3-flash"}


def test_an_openai_answer_renders_thoughts_calls_and_gemini_usage(recorded):
    # Given an OpenAI-shaped answer with reasoning, a tool call and reasoning tokens
    response = ChatResponse.model_validate(
        {
            "id": "chatcmpl-1",
            "model": "m",
            "choices": [
                {
                    "message": {
                        "content": "Checking.",
                        "reasoning_content": "The user wants weather.",
                        "tool_calls": [
                            {
                                "id": "call_1",
                                "function": {"name": "weather", "arguments": '{"city":"Paris"}'},
                                "thought_signature": "c2ln",
                            }
                        ],
                    },
                    "finish_reason": "tool_calls",
                }
            ],
            "usage": {
                "prompt_tokens": 10,
                "completion_tokens": 30,
                "total_tokens": 40,
                "prompt_tokens_details": {"cached_tokens": 4},
                "completion_tokens_details": {"reasoning_tokens": 20},
            },
        }
    )
    # When it is rendered with thoughts asked for
    body = render_response(response, "openai/gpt-5", thoughts=True)
    # Then thoughts, text and the call are parts, and candidates exclude the thoughts
    assert body["candidates"][0]["content"]["parts"] == [
        {"text": "The user wants weather.", "thought": True},
        {"text": "Checking."},
        {
            "functionCall": {"name": "weather", "args": {"city": "Paris"}, "id": "call_1"},
            "thoughtSignature": "c2ln",
        },
    ]
    assert body["candidates"][0]["finishReason"] == "STOP"
    assert body["usageMetadata"] == {
        "promptTokenCount": 10,
        "candidatesTokenCount": 10,
        "totalTokenCount": 40,
        "cachedContentTokenCount": 4,
        "thoughtsTokenCount": 20,
    }
    assert body["responseId"] == "chatcmpl-1"
    # And without includeThoughts no thought part is sent
    plain = render_response(response, "openai/gpt-5", thoughts=False)
    assert not any(p.get("thought") for p in plain["candidates"][0]["content"]["parts"])


@pytest.mark.parametrize(
    ("reason", "gemini"), [("length", "MAX_TOKENS"), ("content_filter", "SAFETY"), ("stop", "STOP")]
)
def test_finish_reasons(reason, gemini):
    response = ChatResponse.model_validate(
        {"model": "m", "choices": [{"message": {"content": "x"}, "finish_reason": reason}]}
    )
    assert render_response(response, "m", thoughts=False)["candidates"][0]["finishReason"] == gemini
