"""The Bedrock adapter's wire mapping against recorded Converse payloads: OpenAI chat requests
into Converse bodies, Converse answers back into chat completions."""

from __future__ import annotations

import json

import pytest

from orchestra.errors import (
    MalformedResponse,
    ProviderBadRequest,
)
from orchestra.providers.base import CallOptions
from orchestra.providers.bedrock_convert import UnsupportedContent, parse_response, to_body

from support.bedrock import (
    JSON,
    MODEL,
    WEATHER,
    bedrock_provider,
    chat_request,
    tool_call,
)
from support.replay import Replay

pytestmark = pytest.mark.usefixtures("bedrock_credentials")


# --- request translation ---------------------------------------------------------------


def test_system_and_developer_messages_become_system_blocks():
    body = to_body(
        chat_request(
            messages=[
                {"role": "system", "content": "Be brief."},
                {"role": "developer", "content": [{"type": "text", "text": "Answer in French."}]},
                {"role": "system", "content": ""},
                {"role": "user", "content": "hi"},
            ]
        )
    )
    assert body["system"] == [{"text": "Be brief."}, {"text": "Answer in French."}]
    assert body["messages"] == [{"role": "user", "content": [{"text": "hi"}]}]
    assert "inferenceConfig" not in body and "toolConfig" not in body


def test_consecutive_same_role_messages_are_merged_to_alternate():
    body = to_body(
        chat_request(
            messages=[
                {"role": "user", "content": "one"},
                {"role": "user", "content": [{"type": "text", "text": "two"}]},
                {"role": "assistant", "content": "three"},
                {"role": "assistant", "content": "four"},
                {"role": "user", "content": "five"},
            ]
        )
    )
    assert body["messages"] == [
        {"role": "user", "content": [{"text": "one"}, {"text": "two"}]},
        {"role": "assistant", "content": [{"text": "three"}, {"text": "four"}]},
        {"role": "user", "content": [{"text": "five"}]},
    ]


def test_tool_calls_and_results_become_tool_use_and_one_user_turn_of_results():
    body = to_body(
        chat_request(
            messages=[
                {"role": "user", "content": "Weather in Paris and Rome?"},
                {
                    "role": "assistant",
                    "content": "Checking.",
                    "tool_calls": [
                        tool_call("tooluse_1", "weather", '{"city":"Paris"}'),
                        tool_call("tooluse_2", "weather", "not json"),
                    ],
                },
                {"role": "tool", "tool_call_id": "tooluse_1", "content": "18C"},
                {"role": "tool", "tool_call_id": "tooluse_2", "content": "21C"},
                {"role": "user", "content": "Thanks"},
            ],
            tools=[WEATHER],
        )
    )
    assert [m["role"] for m in body["messages"]] == ["user", "assistant", "user"]
    assert body["messages"][1]["content"] == [
        {"text": "Checking."},
        {"toolUse": {"toolUseId": "tooluse_1", "name": "weather", "input": {"city": "Paris"}}},
        {"toolUse": {"toolUseId": "tooluse_2", "name": "weather", "input": {}}},
    ]
    assert body["messages"][2]["content"] == [
        {"toolResult": {"toolUseId": "tooluse_1", "content": [{"text": "18C"}]}},
        {"toolResult": {"toolUseId": "tooluse_2", "content": [{"text": "21C"}]}},
        {"text": "Thanks"},
    ]


def test_a_parsed_tool_call_round_trips_into_the_next_request(recorded):
    raw = recorded.json("bedrock/converse_tool_use.json")
    message = parse_response(raw, "m").choices[0].message
    body = to_body(
        chat_request(
            messages=[
                {"role": "user", "content": "Weather in Paris?"},
                message.model_dump(),
                {"role": "tool", "tool_call_id": message.tool_calls[0].id, "content": "18C"},
            ],
            tools=[WEATHER],
        )
    )
    original = raw["output"]["message"]["content"][0]["toolUse"]
    sent = body["messages"][1]["content"][0]["toolUse"]
    assert sent == {k: original[k] for k in ("toolUseId", "name", "input")}
    assert body["messages"][2]["content"][0]["toolResult"]["toolUseId"] == original["toolUseId"]


def test_data_url_images_become_image_blocks():
    body = to_body(
        chat_request(
            messages=[
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "What is this?"},
                        {"type": "image_url", "image_url": {"url": "data:image/jpg;base64,QUJD"}},
                        {"type": "image_url", "image_url": {"url": "data:image/png;base64,REVG"}},
                    ],
                }
            ]
        )
    )
    assert body["messages"][0]["content"] == [
        {"text": "What is this?"},
        {"image": {"format": "jpeg", "source": {"bytes": "QUJD"}}},
        {"image": {"format": "png", "source": {"bytes": "REVG"}}},
    ]


@pytest.mark.parametrize(
    "url", ["https://example.com/cat.png", "data:image/svg+xml;base64,PHN2Zz4="]
)
def test_images_converse_cannot_take_are_refused(url):
    part = {"type": "image_url", "image_url": {"url": url}}
    with pytest.raises(UnsupportedContent):
        to_body(chat_request(messages=[{"role": "user", "content": [part]}]))


async def test_provider_refuses_remote_images_without_calling_bedrock():
    replay = Replay(body=b"{}", headers=JSON)
    part = {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}
    request = chat_request(messages=[{"role": "user", "content": [part]}])
    with pytest.raises(ProviderBadRequest, match="data: URLs"):
        await bedrock_provider(replay).complete(request, MODEL, CallOptions())
    assert replay.requests == []


def test_inference_config():
    body = to_body(
        chat_request(
            max_tokens=64, max_completion_tokens=32, temperature=0.1, top_p=0.9, stop="END"
        )
    )
    assert body["inferenceConfig"] == {
        "maxTokens": 32,
        "temperature": 0.1,
        "topP": 0.9,
        "stopSequences": ["END"],
    }
    assert to_body(chat_request(max_tokens=64, stop=["a", "b"]))["inferenceConfig"] == {
        "maxTokens": 64,
        "stopSequences": ["a", "b"],
    }


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        ("auto", {"auto": {}}),
        ("required", {"any": {}}),
        ({"type": "function", "function": {"name": "weather"}}, {"tool": {"name": "weather"}}),
        (None, None),
    ],
)
def test_tool_config_and_tool_choice(choice, expected):
    bare = {"type": "function", "function": {"name": "clock"}}
    config = to_body(chat_request(tools=[WEATHER, bare], tool_choice=choice))["toolConfig"]
    assert config["tools"] == [
        {
            "toolSpec": {
                "name": "weather",
                "description": "Current weather",
                "inputSchema": {"json": WEATHER["function"]["parameters"]},
            }
        },
        {
            "toolSpec": {
                "name": "clock",
                "inputSchema": {"json": {"type": "object", "properties": {}}},
            }
        },
    ]
    assert config.get("toolChoice") == expected


def test_tool_choice_none_drops_tools_unless_the_history_uses_them():
    assert "toolConfig" not in to_body(chat_request(tools=[WEATHER], tool_choice="none"))
    history = [
        {"role": "user", "content": "Weather?"},
        {"role": "assistant", "tool_calls": [tool_call("t1", "weather", "{}")]},
        {"role": "tool", "tool_call_id": "t1", "content": "18C"},
    ]
    body = to_body(chat_request(messages=history, tools=[WEATHER], tool_choice="none"))
    assert body["toolConfig"]["tools"][0]["toolSpec"]["name"] == "weather"
    assert "toolChoice" not in body["toolConfig"]


# --- responses -------------------------------------------------------------------------


def test_parse_converse(recorded):
    response = parse_response(recorded.json("bedrock/converse.json"), "m")
    assert response.text() == "The city of Paris"
    assert response.choices[0].finish_reason == "stop"
    assert response.choices[0].message.tool_calls is None
    assert response.usage is not None
    assert (response.usage.prompt_tokens, response.usage.completion_tokens) == (25, 4)
    assert response.usage.total_tokens == 29


def test_parse_nova_response_with_cache_fields(recorded):
    body = recorded.json("bedrock/converse_text_nova_cache_fields.json")
    response = parse_response(body, "m")
    assert response.text().startswith('Let me count the "r"s')
    assert response.usage is not None
    assert (response.usage.prompt_tokens, response.usage.completion_tokens) == (22, 57)
    body["usage"].update(cacheReadInputTokens=100, cacheWriteInputTokens=5)  # counted once each
    usage = parse_response(body, "m").usage
    assert usage is not None and (usage.prompt_tokens, usage.total_tokens) == (127, 184)


def test_parse_tool_use(recorded):
    response = parse_response(recorded.json("bedrock/converse_tool_use.json"), "m")
    calls = response.choices[0].message.tool_calls or []
    assert response.choices[0].finish_reason == "tool_calls"
    assert response.choices[0].message.content is None
    assert [(c.id, c.function.name) for c in calls] == [
        ("tooluse_8ZVLMmsdearTDSS0unN07z", "get_weather")
    ]
    assert json.loads(calls[0].function.arguments) == {"city": "Paris"}
    assert response.usage is not None and response.usage.prompt_tokens == 560


@pytest.mark.parametrize(
    ("reason", "finish"),
    [
        ("stop_sequence", "stop"),
        ("max_tokens", "length"),
        ("guardrail_intervened", "content_filter"),
        ("content_filtered", "content_filter"),
        ("something_new", "stop"),
    ],
)
def test_stop_reasons(recorded, reason, finish):
    body = {**recorded.json("bedrock/converse.json"), "stopReason": reason}
    assert parse_response(body, "m").choices[0].finish_reason == finish


async def test_unreadable_response_is_malformed():
    replay = Replay(body=b'{"output": {}}', headers=JSON)
    with pytest.raises(MalformedResponse):
        await bedrock_provider(replay).complete(chat_request(), MODEL, CallOptions())
