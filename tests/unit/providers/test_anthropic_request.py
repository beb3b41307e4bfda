"""What the Anthropic adapter sends: thinking, cache control, documents, tool results,
sampling and metadata, the same-format passthrough and the ``anthropic-beta`` header."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from orchestra.errors import ProviderBadRequest
from orchestra.providers.anthropic import AnthropicProvider
from orchestra.providers.base import CallOptions, ProviderConfig
from orchestra.schemas.chat import ChatRequest, NativeBody

from support.replay import Replay

KEY = "sk-ant-test-0123456789abcdef"
ANSWER = (
    b'{"id":"msg_1","type":"message","role":"assistant","content":[{"type":"text","text":"ok"}],'
    b'"stop_reason":"end_turn","usage":{"input_tokens":3,"output_tokens":1}}'
)
JSON = {"content-type": "application/json"}
PDF = "JVBERi0xLjQK"
WEATHER = {"type": "function", "function": {"name": "weather", "parameters": {"type": "object"}}}
CACHED = {"type": "ephemeral"}
THINKING = {"type": "thinking", "thinking": "Let me think.", "signature": "sig-1"}
REDACTED = {"type": "redacted_thinking", "data": "EmwKAhgB"}


def _provider(replay: Replay, **config: Any) -> AnthropicProvider:
    settings = ProviderConfig(name="anthropic", type="anthropic", api_key=KEY, **config)
    return AnthropicProvider(settings, replay.clients())


def _request(**extra: Any) -> ChatRequest:
    return ChatRequest.model_validate(
        {"model": "anthropic/claude", "messages": [{"role": "user", "content": "hi"}], **extra}
    )


async def _sent(request: ChatRequest, **config: Any) -> tuple[dict[str, Any], Replay]:
    replay = Replay(body=ANSWER, headers=JSON)
    await _provider(replay, **config).complete(request, "claude-x", CallOptions())
    return replay.sent_json(), replay


def _user(*parts: dict[str, Any]) -> dict[str, Any]:
    return {"role": "user", "content": list(parts)}


# --- thinking --------------------------------------------------------------------------


async def test_thinking_is_sent_and_drops_temperature_and_top_k():
    # Given a request with extended thinking and sampling the API refuses alongside it
    request = _request(
        thinking={"type": "enabled", "budget_tokens": 2048},
        max_tokens=8000,
        temperature=0.5,
        top_k=40,
        top_p=0.97,
    )
    # When it is sent
    body, _ = await _sent(request)
    # Then thinking goes as given, max_tokens stays (above the budget), temperature/top_k go
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 2048}
    assert body["max_tokens"] == 8000 and body["top_p"] == 0.97
    assert "temperature" not in body and "top_k" not in body


@pytest.mark.parametrize(("limit", "expected"), [(1000, 5096), (4096, 8192), (None, 8192)])
async def test_max_tokens_is_raised_above_the_thinking_budget(limit, expected):
    request = _request(thinking={"type": "enabled", "budget_tokens": 4096}, max_tokens=limit)
    body, _ = await _sent(request)
    assert body["max_tokens"] == expected  # the budget plus the output asked for


@pytest.mark.parametrize(
    ("effort", "thinking"),
    [
        ("low", {"type": "enabled", "budget_tokens": 1024}),
        ("medium", {"type": "enabled", "budget_tokens": 4096}),
        ("high", {"type": "enabled", "budget_tokens": 16384}),
        ("minimal", None),
        ("none", None),
    ],
)
async def test_reasoning_effort_without_thinking_becomes_a_budget(effort, thinking):
    body, _ = await _sent(_request(reasoning_effort=effort, temperature=0.3))
    assert body.get("thinking") == thinking
    assert ("temperature" in body) is (thinking is None)
    if thinking:
        assert body["max_tokens"] > thinking["budget_tokens"]


async def test_explicit_thinking_wins_over_reasoning_effort():
    body, _ = await _sent(_request(reasoning_effort="high", thinking={"type": "disabled"}))
    assert body["thinking"] == {"type": "disabled"}
    assert body["max_tokens"] == 4096


async def test_thinking_blocks_go_back_first_in_their_assistant_turn():
    # Given a tool conversation whose assistant turn carries signed and redacted thinking
    call = {"id": "toolu_1", "type": "function", "function": {"name": "weather", "arguments": "{}"}}
    request = _request(
        messages=[
            {"role": "user", "content": "Weather?"},
            {
                "role": "assistant",
                "content": "Checking.",
                "reasoning_content": "Let me think.",
                "thinking_blocks": [THINKING, REDACTED],
                "tool_calls": [call],
            },
            {"role": "tool", "tool_call_id": "toolu_1", "content": "18C"},
        ],
        tools=[WEATHER],
        thinking={"type": "enabled", "budget_tokens": 1024},
    )
    # When it is sent
    body, _ = await _sent(request)
    # Then the blocks come back verbatim, before the text and the tool use
    assert body["messages"][1]["content"] == [
        THINKING,
        REDACTED,
        {"type": "text", "text": "Checking."},
        {"type": "tool_use", "id": "toolu_1", "name": "weather", "input": {}},
    ]


# --- cache control ---------------------------------------------------------------------


async def test_cache_control_on_parts_tools_and_system():
    image = {"url": "data:image/png;base64,iVBORw0KGgo="}
    request = _request(
        messages=[
            {
                "role": "system",
                "content": [
                    {"type": "text", "text": "Long instructions.", "cache_control": CACHED},
                    {"type": "text", "text": "Be brief."},
                ],
            },
            _user(
                {"type": "text", "text": "Read this.", "cache_control": CACHED},
                {"type": "image_url", "image_url": image, "cache_control": CACHED},
            ),
        ],
        tools=[{**WEATHER, "cache_control": CACHED}],
    )
    body, _ = await _sent(request)
    assert body["system"] == [
        {"type": "text", "text": "Long instructions.", "cache_control": CACHED},
        {"type": "text", "text": "Be brief."},
    ]
    assert body["messages"][0]["content"] == [
        {"type": "text", "text": "Read this.", "cache_control": CACHED},
        {
            "type": "image",
            "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="},
            "cache_control": CACHED,
        },
    ]
    assert body["tools"] == [
        {"name": "weather", "input_schema": {"type": "object"}, "cache_control": CACHED}
    ]


async def test_system_stays_a_string_without_cache_control():
    request = _request(
        messages=[
            {"role": "system", "content": [{"type": "text", "text": "Be brief."}]},
            {"role": "developer", "content": "Use tools."},
            {"role": "user", "content": "hi"},
        ]
    )
    body, _ = await _sent(request)
    assert body["system"] == "Be brief.\n\nUse tools."


# --- documents -------------------------------------------------------------------------


async def test_file_parts_become_document_blocks():
    text = base64.b64encode(b"Plain notes.\n").decode()
    request = _request(
        messages=[
            _user(
                {
                    "type": "file",
                    "file": {
                        "file_data": f"data:application/pdf;base64,{PDF}",
                        "filename": "a.pdf",
                    },
                    "cache_control": CACHED,
                },
                {"type": "file", "file": {"file_data": f"data:text/plain;base64,{text}"}},
                {"type": "file", "file": {"file_url": "https://example.com/b.pdf"}},
                {"type": "text", "text": "Summarise."},
            )
        ]
    )
    body, _ = await _sent(request)
    assert body["messages"][0]["content"] == [
        {
            "type": "document",
            "source": {"type": "base64", "media_type": "application/pdf", "data": PDF},
            "title": "a.pdf",
            "cache_control": CACHED,
        },
        {
            "type": "document",
            "source": {"type": "text", "media_type": "text/plain", "data": "Plain notes.\n"},
        },
        {"type": "document", "source": {"type": "url", "url": "https://example.com/b.pdf"}},
        {"type": "text", "text": "Summarise."},
    ]


async def test_a_document_anthropic_cannot_take_is_a_client_error_naming_the_part():
    part = {"type": "file", "file": {"file_data": "data:application/zip;base64,UEsDBA=="}}
    replay = Replay(body=ANSWER, headers=JSON)
    request = _request(messages=[{"role": "user", "content": "hi"}, _user(part)])
    with pytest.raises(ProviderBadRequest, match="application/zip") as caught:
        await _provider(replay).complete(request, "claude-x", CallOptions())
    assert caught.value.param == "messages[1].content[0]"
    assert replay.requests == []


# --- tools, sampling, metadata ---------------------------------------------------------


async def test_tool_results_with_parts_and_errors():
    image = {"url": "data:image/png;base64,iVBORw0KGgo="}
    request = _request(
        messages=[
            {"role": "user", "content": "Plot it."},
            {
                "role": "tool",
                "tool_call_id": "toolu_1",
                "content": [
                    {"type": "text", "text": "Here is the chart."},
                    {"type": "image_url", "image_url": image},
                ],
            },
            {"role": "tool", "tool_call_id": "toolu_2", "content": "boom", "is_error": True},
        ]
    )
    body, _ = await _sent(request)
    assert body["messages"][0]["content"][1:] == [
        {
            "type": "tool_result",
            "tool_use_id": "toolu_1",
            "content": [
                {"type": "text", "text": "Here is the chart."},
                {
                    "type": "image",
                    "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="},
                },
            ],
        },
        {"type": "tool_result", "tool_use_id": "toolu_2", "content": "boom", "is_error": True},
    ]


async def test_sampling_stops_metadata_and_user():
    body, _ = await _sent(
        _request(top_k=5, temperature=0.2, stop=["END", "STOP"], metadata={"user_id": "u-1"})
    )
    assert (body["top_k"], body["temperature"]) == (5, 0.2)
    assert body["stop_sequences"] == ["END", "STOP"]
    assert body["metadata"] == {"user_id": "u-1"}
    body, _ = await _sent(_request(user="u-2", metadata={"purpose": "test"}))
    assert body["metadata"] == {"user_id": "u-2"}  # only user_id is a Messages field


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        (None, {"type": "auto", "disable_parallel_tool_use": True}),
        ("required", {"type": "any", "disable_parallel_tool_use": True}),
        (
            {"type": "function", "function": {"name": "weather"}},
            {"type": "tool", "name": "weather", "disable_parallel_tool_use": True},
        ),
        ("none", {"type": "none"}),
    ],
)
async def test_parallel_tool_calls_false_disables_parallel_tool_use(choice, expected):
    body, _ = await _sent(_request(tools=[WEATHER], tool_choice=choice, parallel_tool_calls=False))
    assert body["tool_choice"] == expected
    body, _ = await _sent(_request(tools=[WEATHER], tool_choice="auto"))
    assert body["tool_choice"] == {"type": "auto"}  # the table's dicts were not changed


# --- passthrough and anthropic-beta ----------------------------------------------------


def _native_request(body: dict[str, Any], **extra: Any) -> ChatRequest:
    request = _request(**extra)
    return request.with_native(NativeBody(format="anthropic", body=body))


CLIENT_BODY = {
    "model": "claude-client-alias",
    "max_tokens": 1024,
    "stream": False,
    "container": "container_011",
    "mcp_servers": [{"type": "url", "url": "https://mcp.example.com/sse", "name": "m"}],
    "service_tier": "auto",
    "context_management": {"edits": [{"type": "clear_tool_uses_20250919"}]},
    "messages": [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "hi"},
                {"type": "search_result", "source": "https://x", "title": "t", "content": []},
            ],
        }
    ],
}


@pytest.mark.parametrize("stream", [False, True])
async def test_a_native_anthropic_body_passes_through_with_the_upstream_model(recorded, stream):
    # Given a request that came in as an Anthropic body with fields the gateway ignores
    request = _native_request(CLIENT_BODY, temperature=0.1)
    replay = Replay(body=ANSWER, headers=JSON)
    provider = _provider(replay)
    # When it is sent, as a call or a stream
    if stream:
        replay.body = recorded.bytes("anthropic/messages_stream_text.sse")
        replay.headers = {"content-type": "text/event-stream"}
        assert [c async for c in provider.stream(request, "claude-x", CallOptions())]
    else:
        await provider.complete(request, "claude-x", CallOptions())
    # Then the upstream gets the client's body, model replaced and stream set per call
    expected = {k: v for k, v in CLIENT_BODY.items() if k != "stream"} | {"model": "claude-x"}
    if stream:
        expected["stream"] = True
    assert replay.sent_json() == expected


async def test_other_formats_native_bodies_are_not_passed_to_anthropic():
    request = _request().with_native(NativeBody(format="gemini", body={"contents": []}))
    body, _ = await _sent(request)
    assert "contents" not in body and body["messages"][0]["role"] == "user"


async def test_the_answer_carries_the_vendor_body():
    replay = Replay(body=ANSWER, headers=JSON)
    response = await _provider(replay).complete(_request(), "claude-x", CallOptions())
    assert response.native is not None and response.native.format == "anthropic"
    assert response.native.body["id"] == "msg_1"


@pytest.mark.parametrize("native", [False, True])
async def test_client_betas_go_in_the_header_merged_with_the_configured_one(native):
    betas = ["context-management-2025-06-27", "files-api-2025-04-14"]
    request = (
        _native_request(CLIENT_BODY, anthropic_beta=betas)
        if native
        else _request(anthropic_beta=betas)
    )
    config = {"headers": {"Anthropic-Beta": "files-api-2025-04-14,mcp-client-2025-04-04"}}
    body, replay = await _sent(request, **config)
    assert replay.requests[0].headers["anthropic-beta"] == (
        "files-api-2025-04-14,mcp-client-2025-04-04,context-management-2025-06-27"
    )
    assert "anthropic_beta" not in body


async def test_no_beta_header_unless_asked_for():
    _, replay = await _sent(_request())
    assert "anthropic-beta" not in replay.requests[0].headers
    _, replay = await _sent(_request(anthropic_beta=["a-1"]))
    assert replay.requests[0].headers["anthropic-beta"] == "a-1"
