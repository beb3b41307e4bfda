"""Gemini generateContent in: requests parsed into the chat request, answers rendered back."""

from __future__ import annotations

import json
from typing import Any

import pytest

from orchestra.errors import InvalidRequest
from orchestra.formats.gemini import (
    count_tokens,
    include_thoughts,
    serves,
    to_chat_request,
)
from orchestra.schemas.chat import NativeBody

PNG = "iVBORw0KGgo="


def _parse(body: dict[str, Any], model: str = "gemini-2.5-pro", stream: bool = False):
    return to_chat_request(body, model, stream=stream)


def _user(*parts: dict[str, Any]) -> dict[str, Any]:
    return {"role": "user", "parts": list(parts)}


def _refused(body: dict[str, Any]) -> InvalidRequest:
    with pytest.raises(InvalidRequest) as info:
        _parse(body)
    assert info.value.status == 400
    return info.value


@pytest.mark.parametrize(
    ("path", "gemini"),
    [
        ("/v1beta/models/auto:budget:generateContent", True),
        ("/v1beta/anything", True),
        ("/v1/models/alpha/m1:streamGenerateContent", True),
        ("/v1/models/rankings", False),
        ("/v1/chat/completions", False),
    ],
)
def test_which_paths_answer_in_googles_shape(path, gemini):
    assert serves(path) is gemini


def test_system_instruction_text_and_the_native_body():
    # Given a system instruction and a user turn with two text parts
    body = {
        "systemInstruction": {"parts": [{"text": "Be brief."}]},
        "contents": [_user({"text": "Hello "}, {"text": "there"})],
        "safetySettings": [{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_NONE"}],
    }
    # When it is parsed
    request = _parse(body, stream=True)
    # Then the system message comes first and the body is kept for a Gemini upstream
    assert [m.role for m in request.messages] == ["system", "user"]
    assert request.messages[0].content == "Be brief."
    assert request.messages[1].text() == "Hello there"
    assert request.stream and request.wants_usage_in_stream()
    assert request.native == NativeBody(format="gemini", body=body)
    assert request.model == "gemini-2.5-pro"


def test_inline_and_file_data_become_image_and_file_parts():
    request = _parse(
        {
            "contents": [
                _user(
                    {"text": "Compare"},
                    {"inlineData": {"mimeType": "image/png", "data": PNG}},
                    {"inlineData": {"mimeType": "application/pdf", "data": "JVBERi0="}},
                    {"fileData": {"mimeType": "image/jpeg", "fileUri": "https://x.test/a.jpg"}},
                    {"fileData": {"fileUri": "https://x.test/doc.pdf"}},
                    {"inlineData": {"mimeType": "audio/wav", "data": "UklGRg=="}},
                )
            ]
        }
    )
    parts = request.messages[0].content
    assert isinstance(parts, list)
    assert parts[1] == {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}}
    assert parts[2] == {
        "type": "file",
        "file": {"file_data": "data:application/pdf;base64,JVBERi0="},
    }
    assert parts[3] == {"type": "image_url", "image_url": {"url": "https://x.test/a.jpg"}}
    assert parts[4] == {"type": "file", "file": {"file_url": "https://x.test/doc.pdf"}}
    assert parts[5] == {"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}}


def test_snake_case_field_names_are_read_too_and_the_native_body_kept_as_sent():
    # Given google-genai's own spelling of an image part, and snake_case config
    body = {
        "contents": [_user({"inline_data": {"mime_type": "image/png", "data": PNG}})],
        "generation_config": {"max_output_tokens": 9},
        "tools": [{"function_declarations": [{"name": "f", "parameters_json_schema": {"a_b": 1}}]}],
    }
    request = _parse(body)
    assert request.messages[0].content == [
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}}
    ]
    assert request.max_tokens == 9
    assert (request.tools or [])[0]["function"]["parameters"] == {"a_b": 1}
    assert request.native is not None and request.native.body == body


def test_a_function_call_round_trip_keeps_ids_and_the_thought_signature():
    # Given a model turn with two calls (one signed, none with ids) and their responses
    body = {
        "contents": [
            _user({"text": "Weather in Paris and Rome?"}),
            {
                "role": "model",
                "parts": [
                    {"text": "Let me think", "thought": True},
                    {
                        "functionCall": {"name": "weather", "args": {"city": "Paris"}},
                        "thoughtSignature": "c2ln",
                    },
                    {"functionCall": {"name": "weather", "args": {"city": "Rome"}}},
                ],
            },
            _user(
                {"functionResponse": {"name": "weather", "response": {"temp": 21}}},
                {"functionResponse": {"name": "weather", "response": {"error": "down"}}},
            ),
        ]
    }
    # When it is parsed
    messages = _parse(body).messages
    # Then the calls are assistant tool calls and the responses answer them in order
    assistant, first, second = messages[1], messages[2], messages[3]
    assert assistant.reasoning_content == "Let me think" and assistant.content is None
    calls = assistant.tool_calls or []
    assert [json.loads(c.function.arguments) for c in calls] == [
        {"city": "Paris"},
        {"city": "Rome"},
    ]
    assert (calls[0].model_extra or {})["thought_signature"] == "c2ln"
    assert [first.tool_call_id, second.tool_call_id] == [calls[0].id, calls[1].id]
    assert json.loads(first.text()) == {"temp": 21}
    assert getattr(second, "is_error", False) is True
    # And the ids are the same every time the history is sent
    assert [c.id for c in _parse(body).messages[1].tool_calls or []] == [c.id for c in calls]


def test_explicit_function_call_ids_are_kept():
    messages = _parse(
        {
            "contents": [
                _user({"text": "go"}),
                {"role": "model", "parts": [{"functionCall": {"name": "f", "id": "abc"}}]},
                _user({"functionResponse": {"name": "f", "id": "abc", "response": {}}}),
            ]
        }
    ).messages
    assert (messages[1].tool_calls or [])[0].id == "abc" and messages[2].tool_call_id == "abc"


def test_tools_tool_config_and_gemini_schemas():
    request = _parse(
        {
            "contents": [_user({"text": "hi"})],
            "tools": [
                {
                    "functionDeclarations": [
                        {
                            "name": "weather",
                            "description": "Weather now",
                            "parameters": {
                                "type": "OBJECT",
                                "properties": {
                                    "city": {"type": "STRING", "nullable": True},
                                    "days": {
                                        "type": "ARRAY",
                                        "items": {"type": "INTEGER"},
                                        "maxItems": "3",
                                    },
                                },
                                "required": ["city"],
                                "propertyOrdering": ["city", "days"],
                            },
                        },
                        {"name": "time", "parametersJsonSchema": {"type": "object"}},
                    ]
                }
            ],
            "toolConfig": {
                "functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["weather"]}
            },
        }
    )
    tools = request.tools or []
    assert tools[0]["function"]["parameters"] == {
        "type": "object",
        "properties": {
            "city": {"type": ["string", "null"]},
            "days": {"type": "array", "items": {"type": "integer"}, "maxItems": 3},
        },
        "required": ["city"],
    }
    assert tools[1]["function"] == {"name": "time", "parameters": {"type": "object"}}
    assert request.tool_choice == {"type": "function", "function": {"name": "weather"}}


@pytest.mark.parametrize(
    ("mode", "choice"), [("AUTO", "auto"), ("ANY", "required"), ("NONE", "none")]
)
def test_function_calling_modes(mode, choice):
    request = _parse(
        {
            "contents": [_user({"text": "hi"})],
            "tools": [{"functionDeclarations": [{"name": "f"}]}],
            "toolConfig": {"functionCallingConfig": {"mode": mode}},
        }
    )
    assert request.tool_choice == choice


def test_generation_config_maps_to_chat_parameters():
    request = _parse(
        {
            "contents": [_user({"text": "hi"})],
            "generationConfig": {
                "temperature": 0.2,
                "topP": 0.9,
                "topK": 40,
                "maxOutputTokens": 256,
                "stopSequences": ["END"],
                "candidateCount": 1,
                "seed": 7,
                "presencePenalty": 0.1,
                "frequencyPenalty": 0.3,
                "responseMimeType": "application/json",
                "responseSchema": {"type": "OBJECT", "properties": {"a": {"type": "STRING"}}},
                "thinkingConfig": {"thinkingBudget": 2048, "includeThoughts": True},
            },
        }
    )
    assert (request.temperature, request.top_p, request.top_k) == (0.2, 0.9, 40)
    assert (request.max_tokens, request.stop, request.seed) == (256, ["END"], 7)
    assert (request.presence_penalty, request.frequency_penalty) == (0.1, 0.3)
    assert request.response_format == {
        "type": "json_schema",
        "json_schema": {
            "name": "response",
            "schema": {"type": "object", "properties": {"a": {"type": "string"}}},
        },
    }
    assert request.thinking == {"type": "enabled", "budget_tokens": 2048}
    assert include_thoughts(request)


def test_json_without_a_schema_and_thinking_off():
    request = _parse(
        {
            "contents": [_user({"text": "hi"})],
            "generationConfig": {
                "responseMimeType": "application/json",
                "thinkingConfig": {"thinkingBudget": 0},
            },
        }
    )
    assert request.response_format == {"type": "json_object"}
    assert request.thinking == {"type": "disabled"} and not include_thoughts(request)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"contents": []}, "contents"),
        (
            {"contents": [_user({"inlineData": {"data": PNG}})]},
            "contents[0].parts[0].inlineData.mimeType",
        ),
        (
            {
                "contents": [
                    _user({"text": "a"}, {"inlineData": {"mimeType": "video/mp4", "data": "x"}})
                ]
            },
            "contents[0].parts[1].inlineData.mimeType",
        ),
        ({"contents": [{"role": "robot", "parts": [{"text": "x"}]}]}, "contents[0].role"),
        ({"contents": [_user({"text": 3})]}, "contents[0].parts[0].text"),
        (
            {"contents": [_user({"functionResponse": {"name": "f", "response": {}}})]},
            "contents[0].parts[0].functionResponse.name",
        ),
        (
            {
                "contents": [
                    _user({"fileData": {"fileUri": "gs://b/a.png", "mimeType": "image/png"}})
                ]
            },
            "contents[0].parts[0].fileData.fileUri",
        ),
        (
            {"contents": [_user({"text": "x"})], "tools": [{"googleSearch": {}}]},
            "tools[0].googleSearch",
        ),
        (
            {
                "contents": [_user({"text": "x"})],
                "tools": [{"functionDeclarations": []}, {"codeExecution": {}}],
            },
            "tools[1].codeExecution",
        ),
        (
            {"contents": [_user({"text": "x"})], "generationConfig": {"candidateCount": 2}},
            "generationConfig.candidateCount",
        ),
        (
            {"contents": [_user({"text": "x"})], "generationConfig": {"temperature": 9}},
            "generationConfig.temperature",
        ),
        (
            {"contents": [_user({"text": "x"})], "generationConfig": {"topP": "high"}},
            "generationConfig.topP",
        ),
        (
            {"contents": [_user({"text": "x"})], "generationConfig": {"temprature": 1}},
            "generationConfig.temprature",
        ),
        (
            {"contents": [_user({"text": "x"})], "cachedContent": "cachedContents/abc"},
            "cachedContent",
        ),
        ({"contents": [_user({"text": "x"})], "surprise": 1}, "surprise"),
    ],
)
def test_bad_input_is_a_400_naming_the_field_in_gemini_terms(body, field):
    error = _refused(body)
    assert error.param == field and field in error.message


def test_count_tokens_estimates_without_calling_anyone():
    counted = count_tokens({"contents": [_user({"text": "hello " * 50})]}, "auto")
    assert counted["totalTokens"] > 50
