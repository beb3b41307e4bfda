"""Anthropic Messages requests in: every block type into the internal chat request."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from orchestra.errors import InvalidRequest
from orchestra.formats.anthropic import beta_flags, parse_count_request, parse_request

PNG = "iVBORw0KGgo="
PDF = "JVBERi0xLjQK"
EPHEMERAL = {"type": "ephemeral"}


def _parse(**fields: Any) -> Any:
    body = {"model": "claude-sonnet-4-5", "max_tokens": 256, **fields}
    body.setdefault("messages", [{"role": "user", "content": "hi"}])
    return parse_request(json.dumps(body).encode())


def _refused(**fields: Any) -> InvalidRequest:
    with pytest.raises(InvalidRequest) as info:
        _parse(**fields)
    return info.value


def test_a_plain_request_keeps_its_fields_and_the_native_body():
    # Given a request with sampling parameters, stop sequences and a user id
    chat = _parse(
        model="auto:budget",
        temperature=0.5,
        top_p=0.9,
        top_k=40,
        stop_sequences=["\n\nHuman:"],
        metadata={"user_id": "u-1"},
        stream=True,
        service_tier="auto",
    )
    # Then they map to the internal request, and the whole body rides along untouched
    assert (chat.model, chat.max_tokens, chat.stream) == ("auto:budget", 256, True)
    assert (chat.temperature, chat.top_p, chat.top_k) == (0.5, 0.9, 40)
    assert chat.stop == ["\n\nHuman:"]
    assert chat.user == "u-1" and chat.metadata == {"user_id": "u-1"}
    assert chat.native is not None and chat.native.format == "anthropic"
    assert chat.native.body["service_tier"] == "auto"
    # unknown Anthropic fields stay out of the internal request (an OpenAI upstream would
    # receive them)
    assert "service_tier" not in (chat.model_extra or {})


def test_system_as_a_string_and_as_blocks_with_cache_control():
    chat = _parse(system="Be brief.")
    assert chat.messages[0].role == "system" and chat.messages[0].content == "Be brief."
    chat = _parse(
        system=[
            {"type": "text", "text": "You are Claude Code."},
            {"type": "text", "text": "Big context", "cache_control": EPHEMERAL},
        ]
    )
    assert chat.messages[0].content == [
        {"type": "text", "text": "You are Claude Code."},
        {"type": "text", "text": "Big context", "cache_control": EPHEMERAL},
    ]
    chat = _parse(system=[{"type": "text", "text": "a"}, {"type": "text", "text": "b"}])
    assert chat.messages[0].content == "a\n\nb"


def test_images_base64_and_url_become_image_url_parts():
    chat = _parse(
        messages=[
            {
                "role": "user",
                "content": [
                    {
                        "type": "image",
                        "source": {"type": "base64", "media_type": "image/png", "data": PNG},
                        "cache_control": EPHEMERAL,
                    },
                    {"type": "image", "source": {"type": "url", "url": "https://x.test/a.jpg"}},
                    {"type": "text", "text": "What is this?"},
                ],
            }
        ]
    )
    parts = chat.messages[0].content
    assert parts[0] == {
        "type": "image_url",
        "image_url": {"url": f"data:image/png;base64,{PNG}"},
        "cache_control": EPHEMERAL,
    }
    assert parts[1] == {"type": "image_url", "image_url": {"url": "https://x.test/a.jpg"}}
    assert parts[2] == {"type": "text", "text": "What is this?"}


def test_documents_of_every_source_become_file_parts():
    docs = [
        {"type": "base64", "media_type": "application/pdf", "data": PDF},
        {"type": "url", "url": "https://x.test/paper.pdf"},
        {"type": "text", "media_type": "text/plain", "data": "plain words"},
        {"type": "content", "content": [{"type": "text", "text": "one"}]},
    ]
    content = [{"type": "document", "source": s} for s in docs]
    content[0]["title"] = "paper.pdf"
    chat = _parse(messages=[{"role": "user", "content": content}])
    files = [p["file"] for p in chat.messages[0].content]
    assert files[0] == {"file_data": f"data:application/pdf;base64,{PDF}", "filename": "paper.pdf"}
    assert files[1] == {"file_url": "https://x.test/paper.pdf"}
    assert base64.b64decode(files[2]["file_data"].split(",", 1)[1]) == b"plain words"
    assert base64.b64decode(files[3]["file_data"].split(",", 1)[1]) == b"one"


def test_tools_and_tool_choice_become_function_tools():
    tool = {
        "name": "get_weather",
        "description": "Weather",
        "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
        "cache_control": EPHEMERAL,
    }
    web = {"type": "web_search_20250305", "name": "web_search"}
    chat = _parse(
        tools=[tool, web],
        tool_choice={"type": "tool", "name": "get_weather", "disable_parallel_tool_use": True},
    )
    assert chat.tools == [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "parameters": tool["input_schema"],
                "description": "Weather",
            },
            "cache_control": EPHEMERAL,
        }
    ]
    assert chat.tool_choice == {"type": "function", "function": {"name": "get_weather"}}
    assert (chat.model_extra or {})["parallel_tool_calls"] is False
    choices = {
        k: _parse(tools=[tool], tool_choice={"type": k}).tool_choice
        for k in ("auto", "any", "none")
    }
    assert choices == {"auto": "auto", "any": "required", "none": "none"}


def test_a_tool_round_trip_becomes_tool_calls_and_tool_messages():
    # Given an assistant tool_use turn and a user turn answering it (with an error and an image)
    messages = [
        {"role": "user", "content": "Weather in Paris and a photo?"},
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "Checking."},
                {
                    "type": "tool_use",
                    "id": "toolu_1",
                    "name": "weather",
                    "input": {"city": "Paris"},
                },
                {"type": "tool_use", "id": "toolu_2", "name": "photo", "input": {}},
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "toolu_1", "content": "18C"},
                {
                    "type": "tool_result",
                    "tool_use_id": "toolu_2",
                    "is_error": True,
                    "content": [
                        {"type": "text", "text": "camera offline"},
                        {
                            "type": "image",
                            "source": {"type": "base64", "media_type": "image/png", "data": PNG},
                        },
                    ],
                },
                {"type": "text", "text": "Thanks"},
            ],
        },
    ]
    chat = _parse(messages=messages)
    roles = [m.role for m in chat.messages]
    # Then the tool results are tool messages, in order, before the user's trailing text
    assert roles == ["user", "assistant", "tool", "tool", "user"]
    assistant = chat.messages[1]
    assert assistant.content == "Checking."
    assert [c.function.name for c in assistant.tool_calls] == ["weather", "photo"]
    assert json.loads(assistant.tool_calls[0].function.arguments) == {"city": "Paris"}
    first, second = chat.messages[2], chat.messages[3]
    assert (first.tool_call_id, first.content) == ("toolu_1", "18C")
    assert (second.model_extra or {}).get("is_error") is True
    assert [p["type"] for p in second.content] == ["text", "image_url"]
    assert chat.messages[4].content == [{"type": "text", "text": "Thanks"}]


def test_thinking_config_and_history_blocks_are_kept_verbatim():
    thinking = {"type": "thinking", "thinking": "Let me think.", "signature": "sig-abc"}
    redacted = {"type": "redacted_thinking", "data": "opaque=="}
    chat = _parse(
        thinking={"type": "enabled", "budget_tokens": 2048},
        messages=[
            {"role": "user", "content": "2+2?"},
            {"role": "assistant", "content": [thinking, redacted, {"type": "text", "text": "4"}]},
            {"role": "user", "content": "and 3+3?"},
        ],
    )
    assert chat.thinking == {"type": "enabled", "budget_tokens": 2048}
    assistant = chat.messages[1]
    assert assistant.thinking_blocks == [thinking, redacted]
    assert assistant.reasoning_content == "Let me think."
    assert assistant.content == "4"


def test_beta_flags_split_on_commas():
    assert beta_flags(["a-2025, b-2024", "c"]) == ["a-2025", "b-2024", "c"]
    assert beta_flags([]) == []


def test_count_tokens_needs_no_max_tokens():
    body = {"model": "claude-sonnet-4-5", "messages": [{"role": "user", "content": "hi"}]}
    chat = parse_count_request(json.dumps(body).encode())
    assert chat.max_tokens is None


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"max_tokens": None}, "max_tokens"),
        ({"max_tokens": 0}, "max_tokens"),
        ({"temperature": 1.5}, "temperature"),
        ({"model": 7}, "model"),
        ({"messages": []}, "messages"),
        ({"messages": [{"role": "system", "content": "x"}]}, "messages.0.role"),
        ({"stop_sequences": ["a", "b", "c", "d", "e"]}, "stop_sequences"),
        ({"tool_choice": {"type": "sometimes"}}, "tool_choice.type"),
        ({"tools": [{"name": "t"}]}, "tools.0.input_schema"),
        ({"metadata": {"user_id": 5}}, "metadata.user_id"),
        (
            {
                "messages": [
                    {"role": "user", "content": "x"},
                    {
                        "role": "user",
                        "content": [
                            {
                                "type": "image",
                                "source": {
                                    "type": "base64",
                                    "media_type": "image/bmp",
                                    "data": "x",
                                },
                            }
                        ],
                    },
                ]
            },
            "messages.1.content.0.source.media_type",
        ),
        (
            {"messages": [{"role": "user", "content": [{"type": "tool_result"}]}]},
            "messages.0.content.0.tool_use_id",
        ),
    ],
)
def test_bad_fields_are_refused_naming_their_path(fields, param):
    fields = {k: v for k, v in fields.items()}
    if fields.get("max_tokens", 1) is None:
        body = {"model": "m", "messages": [{"role": "user", "content": "x"}]}
        with pytest.raises(InvalidRequest) as info:
            parse_request(json.dumps(body).encode())
        error = info.value
    else:
        error = _refused(**fields)
    assert error.status == 400
    assert error.param == param
    assert param in error.message


@pytest.mark.parametrize("raw", [b"", b"[1]", b"{not json"])
def test_a_body_that_is_not_a_json_object_is_refused(raw):
    with pytest.raises(InvalidRequest) as info:
        parse_request(raw)
    assert info.value.code == "invalid_json"
