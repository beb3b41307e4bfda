"""The Gemini adapter and the extended contract: thinking, documents, thought signatures,
JSON output and sampling in the body sent; a Gemini client's own body passed through;
thoughts, signatures and usage details read back (recorded and documented payloads)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from orchestra.providers.base import CallOptions, ProviderConfig
from orchestra.providers.gemini import GeminiProvider, parse_response
from orchestra.providers.gemini_request import SIGNATURE_MARK
from orchestra.schemas.chat import ChatRequest, NativeBody

from support.replay import Replay, assert_chunk_convention, collect, text_of

DOCUMENTED = Path(__file__).resolve().parents[2] / "fixtures" / "gemini"
KEY = "AIza-test-contract-0123456789abcd"
SSE = {"content-type": "text/event-stream"}
JSON = {"content-type": "application/json"}


def _provider(replay: Replay) -> GeminiProvider:
    return GeminiProvider(
        ProviderConfig(name="gemini", type="gemini", api_key=KEY), replay.clients()
    )


def _request(**fields: Any) -> ChatRequest:
    body = {"model": "gemini/flash", "messages": [{"role": "user", "content": "hi"}], **fields}
    return ChatRequest.model_validate(body)


async def _sent(request: ChatRequest, recorded: Any) -> dict[str, Any]:
    replay = Replay(body=recorded.bytes("gemini/generate_content.json"), headers=JSON)
    await _provider(replay).complete(request, "gemini-2.5-flash", CallOptions())
    sent: dict[str, Any] = replay.sent_json()
    return sent


# --- request ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        (
            {"thinking": {"type": "enabled", "budget_tokens": 4096}},
            {"thinkingBudget": 4096, "includeThoughts": True},
        ),
        ({"thinking": {"type": "disabled"}}, {"thinkingBudget": 0}),
        ({"reasoning_effort": "low"}, {"thinkingBudget": 1024, "includeThoughts": True}),
        ({"reasoning_effort": "medium"}, {"thinkingBudget": 8192, "includeThoughts": True}),
        ({"reasoning_effort": "high"}, {"thinkingBudget": 24576, "includeThoughts": True}),
        ({"reasoning_effort": "minimal"}, {"thinkingBudget": 0}),
        ({"reasoning_effort": "none"}, {"thinkingBudget": 0}),
        (
            {"thinking": {"type": "enabled", "budget_tokens": 2000}, "reasoning_effort": "high"},
            {"thinkingBudget": 2000, "includeThoughts": True},
        ),
        ({}, None),
    ],
)
async def test_thinking_and_reasoning_effort_become_a_thinking_config(recorded, fields, expected):
    sent = await _sent(_request(**fields), recorded)
    assert sent.get("generationConfig", {}).get("thinkingConfig") == expected
    assert set(sent) <= {"contents", "generationConfig"}  # no ``thinking`` of Anthropic's


async def test_the_whole_conversation_as_gemini_takes_it(recorded):
    # Given a conversation using every part the contract carries
    request = _request(
        messages=[
            {"role": "system", "content": "Be brief."},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "Read these", "cache_control": {"type": "ephemeral"}},
                    {"type": "file", "file": {"file_data": "data:application/pdf;base64,JVBE"}},
                    {"type": "file", "file": {"file_url": "https://docs.example.test/r.pdf"}},
                    {"type": "image_url", "image_url": {"url": "https://img.example.test/a.png"}},
                    {"type": "input_audio", "input_audio": {"data": "UklG", "format": "wav"}},
                ],
            },
            {
                "role": "assistant",
                "content": "Looking it up.",
                "reasoning_content": "I should call the tool.",
                "thinking_blocks": [{"type": "thinking", "thinking": "t", "signature": "s"}],
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "lookup", "arguments": '{"q":"r"}'},
                        "thought_signature": "U0lHTkFUVVJF",
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "call_1", "content": "not found", "is_error": True},
        ],
        response_format={
            "type": "json_schema",
            "json_schema": {
                "name": "a",
                "schema": {"type": "object", "additionalProperties": False},
            },
        },
        top_k=32,
        seed=7,
        stop="END",
    )
    # When it is sent to Gemini
    sent = await _sent(request, recorded)
    # Then the contents, the thought signature and the config are Gemini's own
    assert sent["contents"] == [
        {
            "role": "user",
            "parts": [
                {"text": "Read these"},
                {"inlineData": {"mimeType": "application/pdf", "data": "JVBE"}},
                {
                    "fileData": {
                        "mimeType": "application/pdf",
                        "fileUri": "https://docs.example.test/r.pdf",
                    }
                },
                {
                    "fileData": {
                        "mimeType": "image/png",
                        "fileUri": "https://img.example.test/a.png",
                    }
                },
                {"inlineData": {"mimeType": "audio/wav", "data": "UklG"}},
            ],
        },
        {
            "role": "model",
            "parts": [
                {"text": "Looking it up."},
                {
                    "functionCall": {"name": "lookup", "args": {"q": "r"}},
                    "thoughtSignature": "U0lHTkFUVVJF",
                },
            ],
        },
        {
            "role": "user",
            "parts": [{"functionResponse": {"name": "lookup", "response": {"error": "not found"}}}],
        },
    ]
    assert sent["systemInstruction"] == {"parts": [{"text": "Be brief."}]}
    assert sent["generationConfig"] == {
        "topK": 32,
        "seed": 7,
        "stopSequences": ["END"],
        "responseMimeType": "application/json",
        "responseJsonSchema": {"type": "object", "additionalProperties": False},
    }


async def test_json_object_asks_only_for_json(recorded):
    sent = await _sent(_request(response_format={"type": "json_object"}), recorded)
    assert sent["generationConfig"] == {"responseMimeType": "application/json"}


# --- same-format passthrough -----------------------------------------------------------

NATIVE = {
    "contents": [{"role": "user", "parts": [{"text": "hi"}]}],
    "safetySettings": [{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_ONLY_HIGH"}],
    "cachedContent": "cachedContents/abc123",
    "labels": {"team": "search"},
    "generationConfig": {"temperature": 0.1, "mediaResolution": "MEDIA_RESOLUTION_LOW"},
    "someFutureField": {"nested": [1, 2]},
}


async def test_a_gemini_clients_body_reaches_gemini_unchanged(recorded):
    # Given a request that came in as a Gemini body, with fields the gateway does not know
    request = _request(temperature=0.9).with_native(NativeBody(format="gemini", body=NATIVE))
    data = recorded.json("gemini/generate_content.json")
    replay = Replay(body=json.dumps(data).encode(), headers=JSON)
    # When it is routed to a Gemini model
    response = await _provider(replay).complete(request, "gemini-2.5-pro", CallOptions())
    # Then the client's own body is sent, to the routed model, and the answer keeps its own
    assert replay.sent_json() == NATIVE
    assert replay.requests[0].url.path == "/v1beta/models/gemini-2.5-pro:generateContent"
    assert response.native == NativeBody(format="gemini", body=data)
    assert response.text() == data["candidates"][0]["content"]["parts"][0]["text"]


async def test_a_gemini_clients_body_is_passed_through_when_streaming(recorded):
    request = _request().with_native(NativeBody(format="gemini", body=NATIVE))
    raw = recorded.bytes("gemini/stream_generate_content_alt_sse.sse")
    replay = Replay(body=raw, headers=SSE)
    chunks = await collect(_provider(replay).stream(request, "gemini-2.5-flash", CallOptions()))
    assert_chunk_convention(chunks)
    assert replay.sent_json() == NATIVE and replay.requests[0].url.params["alt"] == "sse"


async def test_another_formats_body_is_translated_not_passed_through(recorded):
    anthropic = NativeBody(format="anthropic", body={"model": "x", "max_tokens": 5})
    sent = await _sent(_request().with_native(anthropic), recorded)
    assert sent == {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}


# --- response --------------------------------------------------------------------------


def test_thought_parts_are_reasoning_and_usage_has_its_details():
    body = json.loads((DOCUMENTED / "generate_content_thinking.json").read_text())
    response = parse_response(body, "gemini-2.5-flash")
    message = response.choices[0].message
    assert message.content == 'There are three r\'s in "strawberry".'
    assert (message.reasoning_content or "").startswith("**Counting the letters**")
    usage = response.usage
    assert usage is not None
    assert (usage.prompt_tokens, usage.completion_tokens) == (1034, 11 + 217)
    assert (usage.cached_tokens, usage.reasoning_tokens) == (1024, 217)


def test_a_function_calls_signature_is_a_tool_call_field(recorded):
    body = recorded.json("gemini/generate_content_function_calls.json")
    signature = body["candidates"][0]["content"]["parts"][0]["thoughtSignature"]
    calls = parse_response(body, "gemini-3-flash-preview").choices[0].message.tool_calls or []
    assert (calls[0].model_extra or {})["thought_signature"] == signature
    assert "thought_signature" not in (calls[1].model_extra or {})


async def test_the_signature_field_alone_round_trips(recorded):
    # Given a client that sends back the tool call's field with a plain id
    body = recorded.json("gemini/generate_content_function_calls.json")
    calls = parse_response(body, "gemini-3-flash-preview").choices[0].message.tool_calls or []
    first = calls[0].model_dump()
    first["id"] = first["id"].split(SIGNATURE_MARK)[0]
    history = _request(
        messages=[
            {"role": "user", "content": "topics"},
            {"role": "assistant", "tool_calls": [first]},
            {"role": "tool", "tool_call_id": first["id"], "content": "ok"},
        ]
    )
    # Then Gemini gets its signature back on the functionCall part
    sent = await _sent(history, recorded)
    assert sent["contents"][1]["parts"][0]["thoughtSignature"] == first["thought_signature"]


@pytest.mark.parametrize("piece", [None, 11])
async def test_a_thinking_stream_sends_reasoning_deltas_and_usage_details(piece):
    raw = (DOCUMENTED / "stream_generate_content_thinking_alt_sse.sse").read_bytes()
    replay = Replay(body=raw, headers=SSE, piece=piece)
    chunks = await collect(_provider(replay).stream(_request(), "gemini-2.5-flash", CallOptions()))
    assert_chunk_convention(chunks)
    reasoning = "".join(c.choices[0].delta.reasoning_content or "" for c in chunks if c.choices)
    assert reasoning == "**Counting the letters**\n\nI spell out strawberry."
    assert text_of(chunks) == "There are three r's in strawberry."
    usage = chunks[-1].usage
    assert usage is not None
    assert (usage.prompt_tokens, usage.completion_tokens) == (10, 9 + 120)
    assert (usage.cached_tokens, usage.reasoning_tokens) == (4, 120)
