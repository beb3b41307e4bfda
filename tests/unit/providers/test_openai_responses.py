"""OpenAI's Responses API as the outbound protocol of a Responses client's request to OpenAI:
the body sent, the answer and the stream read back (payloads built from OpenAI's documented
examples: tests/fixtures/openai/responses_*)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from orchestra.errors import MalformedResponse, ProviderBadRequest, RateLimited, ServerError
from orchestra.formats.responses import parse_responses_request
from orchestra.formats.responses_output import assistant_turn
from orchestra.providers.base import CallOptions, ProviderConfig
from orchestra.providers.openai import OpenAIProvider
from orchestra.schemas.chat import ChatMessage, ChatRequest, FunctionCall, ToolCall

from support.replay import (
    Replay,
    arguments_by_index,
    assert_chunk_convention,
    collect,
    text_of,
)

KEY = "sk-test-openai-0123456789abcdef"
SSE = {"content-type": "text/event-stream"}
JSON = {"content-type": "application/json"}
DOCUMENTED = Path(__file__).resolve().parents[2] / "fixtures" / "openai"
WEATHER = {
    "type": "function",
    "name": "get_weather",
    "parameters": {"type": "object", "properties": {"location": {"type": "string"}}},
}


def _documented(name: str) -> bytes:
    return (DOCUMENTED / name).read_bytes()


def _provider(
    replay: Replay, base_url: str = "https://api.openai.com/v1", name: str = "oai"
) -> OpenAIProvider:
    config = ProviderConfig(name=name, type="openai", base_url=base_url, api_key=KEY)
    return OpenAIProvider(config, replay.clients())


def _responses(history: list[ChatMessage] | None = None, **body: Any) -> ChatRequest:
    """A request as the Responses route makes it: parsed, the stored conversation first."""
    raw = json.dumps({"model": "openai/gpt-4.1", "input": "hi", **body}).encode()
    return parse_responses_request(raw).chat(history or [])


async def _answer(replay: Replay, request: ChatRequest, **kw: Any) -> Any:
    return await _provider(replay, **kw).complete(request, "gpt-4.1", CallOptions())


async def _stream(replay: Replay, request: ChatRequest) -> list[Any]:
    return await collect(_provider(replay).stream(request, "gpt-4.1", CallOptions()))


def _earlier_turns() -> list[ChatMessage]:
    """A stored conversation: a question, a function call, its result, an answer."""
    call = ToolCall(id="call_1", function=FunctionCall(name="get_weather", arguments='{"l":1}'))
    return [
        ChatMessage(role="developer", content="Use metric units"),
        ChatMessage(role="user", content="Weather in Paris?"),
        ChatMessage(role="assistant", content=None, tool_calls=[call], reasoning_content="r"),
        ChatMessage(role="tool", tool_call_id="call_1", content="18C"),
        ChatMessage(role="assistant", content="It is 18C."),
    ]


# --- the body sent -------------------------------------------------------------------------


async def test_the_client_body_goes_to_responses_with_the_whole_conversation_as_input():
    replay = Replay(body=_documented("responses_web_search.json"), headers=JSON)
    request = _responses(
        _earlier_turns(),
        input=[{"role": "user", "content": [{"type": "input_text", "text": "And tomorrow?"}]}],
        instructions="Be brief",
        previous_response_id="resp_gateway_own",
        tools=[WEATHER, {"type": "web_search", "search_context_size": "low"}],
        include=["web_search_call.action.sources"],
        reasoning={"effort": "low", "summary": "auto"},
        truncation="auto",
        service_tier="flex",
        prompt_cache_key="k1",
        text={"format": {"type": "text"}, "verbosity": "low"},
        fallbacks=["other/model"],
    )
    await _answer(replay, request)
    sent = replay.requests[0]
    assert sent.url == "https://api.openai.com/v1/responses"
    assert sent.headers["authorization"] == f"Bearer {KEY}"
    body = replay.sent_json()
    assert body["model"] == "gpt-4.1" and body["stream"] is False and body["store"] is False
    assert "previous_response_id" not in body and "fallbacks" not in body
    # unknown and Responses-only fields pass through as the client sent them
    assert body["include"] == ["web_search_call.action.sources"]
    assert body["reasoning"] == {"effort": "low", "summary": "auto"}
    assert (body["truncation"], body["service_tier"], body["prompt_cache_key"]) == (
        "auto",
        "flex",
        "k1",
    )
    assert body["text"] == {"format": {"type": "text"}, "verbosity": "low"}
    assert body["tools"] == [WEATHER, {"type": "web_search", "search_context_size": "low"}]
    assert body["instructions"] == "Be brief"
    assert body["input"] == [
        {"type": "message", "role": "developer", "content": [_text("Use metric units")]},
        {"type": "message", "role": "user", "content": [_text("Weather in Paris?")]},
        {
            "type": "function_call",
            "call_id": "call_1",
            "name": "get_weather",
            "arguments": '{"l":1}',
        },
        {"type": "function_call_output", "call_id": "call_1", "output": "18C"},
        {
            "type": "message",
            "role": "assistant",
            "content": [{"type": "output_text", "text": "It is 18C."}],
        },
        {"type": "message", "role": "user", "content": [_text("And tomorrow?")]},
    ]


def _text(text: str) -> dict[str, str]:
    return {"type": "input_text", "text": text}


async def test_images_and_files_become_input_parts():
    replay = Replay(body=_documented("responses_web_search.json"), headers=JSON)
    content = [
        {"type": "input_text", "text": "Compare"},
        {"type": "input_image", "image_url": "https://example.com/a.png", "detail": "low"},
        {
            "type": "input_file",
            "file_data": "data:application/pdf;base64,JVBE",
            "filename": "a.pdf",
        },
        {"type": "input_file", "file_url": "https://example.com/b.pdf"},
    ]
    await _answer(replay, _responses(input=[{"role": "user", "content": content}]))
    assert replay.sent_json()["input"][0]["content"] == content


async def test_chat_shaped_function_tools_are_sent_flat():
    replay = Replay(body=_documented("responses_web_search.json"), headers=JSON)
    spec = {k: v for k, v in WEATHER.items() if k != "type"}
    await _answer(replay, _responses(tools=[{"type": "function", "function": spec}]))
    assert replay.sent_json()["tools"] == [WEATHER]


async def test_audio_input_is_a_client_error_naming_the_part():
    replay = Replay(body=_documented("responses_web_search.json"), headers=JSON)
    request = _responses()
    audio = {"type": "input_audio", "input_audio": {"data": "AAA", "format": "wav"}}
    request.messages[0].content = [audio]
    with pytest.raises(ProviderBadRequest) as info:
        await _answer(replay, request)
    assert info.value.param == "messages[0].content[0]" and replay.requests == []


async def test_other_vendors_and_chat_clients_keep_chat_completions(recorded):
    chat_answer = recorded.bytes("openai/chat_completion_basic.json")
    replay = Replay(body=chat_answer, headers=JSON)
    await _answer(replay, _responses(), base_url="https://api.groq.com/openai/v1")
    assert replay.requests[0].url.path.endswith("/chat/completions")
    plain = ChatRequest.model_validate(
        {"model": "m", "messages": [{"role": "user", "content": "x"}]}
    )
    replay = Replay(body=chat_answer, headers=JSON)
    await _answer(replay, plain)
    assert replay.requests[0].url == "https://api.openai.com/v1/chat/completions"


async def test_azure_openai_speaks_responses_too():
    replay = Replay(body=_documented("responses_web_search.json"), headers=JSON)
    await _answer(replay, _responses(), base_url="https://res.openai.azure.com/openai/v1")
    assert replay.requests[0].url == "https://res.openai.azure.com/openai/v1/responses"


# --- the answer ----------------------------------------------------------------------------


async def test_a_web_search_answer_keeps_its_text_usage_and_the_upstream_body():
    raw = _documented("responses_web_search.json")
    answer = await _answer(Replay(body=raw, headers=JSON), _responses())
    message = answer.choices[0].message
    assert message.content.startswith("A community garden project opened")
    assert answer.choices[0].finish_reason == "stop" and message.tool_calls is None
    assert answer.model == "gpt-4.1"
    assert answer.usage.prompt_tokens == 328 and answer.usage.completion_tokens == 52
    assert answer.usage.cached_tokens == 128
    assert answer.native is not None and answer.native.format == "openai-responses"
    assert answer.native.body == json.loads(raw)  # web_search_call and citations, as sent


async def test_function_calls_and_the_reasoning_summary_are_read():
    raw = _documented("responses_reasoning_function_call.json")
    answer = await _answer(Replay(body=raw, headers=JSON), _responses(tools=[WEATHER]))
    choice = answer.choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.content is None
    [call] = choice.message.tool_calls
    assert (call.id, call.function.name) == ("call_9xYzAbCdEfGhIjKlMnOpQrSt", "get_weather")
    assert json.loads(call.function.arguments) == {"location": "Paris, France", "unit": "celsius"}
    assert choice.message.reasoning_content.startswith("**Checking the weather**")
    assert "\n\n**Choosing units**" in choice.message.reasoning_content
    assert answer.usage.reasoning_tokens == 192 and answer.usage.total_tokens == 505
    # kept for the next turn like any other answer
    turn = assistant_turn(choice.message)
    assert turn.tool_calls and turn.tool_calls[0].id == call.id


async def test_an_answer_cut_by_max_output_tokens_finishes_with_length():
    raw = _documented("responses_incomplete.json")
    answer = await _answer(Replay(body=raw, headers=JSON), _responses(max_output_tokens=16))
    assert answer.choices[0].finish_reason == "length"
    assert answer.text().startswith("Once upon a time")


async def test_an_error_answer_maps_like_chat_completions(recorded):
    raw = recorded.bytes("openai/error_400_unsupported_parameter.json")
    with pytest.raises(ProviderBadRequest) as info:
        await _answer(Replay(status=400, body=raw, headers=JSON), _responses())
    assert KEY not in info.value.message


async def test_a_body_without_output_is_malformed():
    body = json.dumps({"object": "response", "id": "resp_x"}).encode()
    with pytest.raises(MalformedResponse):
        await _answer(Replay(body=body, headers=JSON), _responses())


# --- the stream ----------------------------------------------------------------------------


@pytest.mark.parametrize("piece", [7, 64, 100_000])
async def test_a_stream_gives_reasoning_then_text_then_finish_and_usage(piece):
    replay = Replay(
        body=_documented("responses_stream_reasoning_text.sse"), headers=SSE, piece=piece
    )
    chunks = await _stream(replay, _responses(stream=True))
    assert replay.sent_json()["stream"] is True and replay.requests[0].url.path.endswith(
        "/responses"
    )
    assert_chunk_convention(chunks)
    assert text_of(chunks) == "Hello! How can I help today?"
    reasoning = "".join(c.choices[0].delta.reasoning_content or "" for c in chunks if c.choices)
    assert reasoning == "**Greeting**\n\nA short hello.\n\n**Tone**\n\nKeep it friendly."
    finish = [
        c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason
    ]
    assert finish == ["stop"]
    usage = chunks[-1].usage
    assert (usage.prompt_tokens, usage.completion_tokens, usage.reasoning_tokens) == (22, 84, 64)


async def test_a_streamed_function_call_gives_its_id_name_and_arguments():
    replay = Replay(body=_documented("responses_stream_function_call.sse"), headers=SSE, piece=50)
    chunks = await _stream(replay, _responses(stream=True, tools=[WEATHER]))
    assert_chunk_convention(chunks)
    calls = arguments_by_index(chunks)
    assert calls == {
        0: {
            "id": "call_AbCdEfGhIjKlMnOpQrStUvWx",
            "name": "get_weather",
            "arguments": '{"location":"Paris, France"}',
        }
    }
    finish = [
        c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason
    ]
    assert finish == ["tool_calls"] and chunks[-1].usage.total_tokens == 75


async def test_a_failed_response_raises_the_mapped_error():
    replay = Replay(body=_documented("responses_stream_failed.sse"), headers=SSE)
    with pytest.raises(ServerError) as info:
        await _stream(replay, _responses(stream=True))
    assert "failed to generate" in info.value.message


async def test_an_error_event_raises_the_mapped_error():
    error = {"type": "error", "sequence_number": 2, "code": "rate_limit_exceeded",
             "message": "Rate limit reached", "param": None}  # fmt: skip
    raw = _documented("responses_stream_failed.sse").split(b"event: response.failed")[0]
    raw += f"event: error\ndata: {json.dumps(error)}\n\n".encode()
    with pytest.raises(RateLimited) as info:  # in-band: its code says which error
        await _stream(Replay(body=raw, headers=SSE), _responses(stream=True))
    assert info.value.status == 429 and "Rate limit reached" in info.value.message


async def test_a_stream_cut_before_completion_raises():
    raw = _documented("responses_stream_reasoning_text.sse")
    cut = raw[: raw.index(b"event: response.completed")]
    with pytest.raises(MalformedResponse) as info:
        await _stream(Replay(body=cut, headers=SSE), _responses(stream=True))
    assert "before the answer finished" in info.value.message


async def test_a_server_ignoring_stream_answers_whole():
    replay = Replay(body=_documented("responses_reasoning_function_call.json"), headers=JSON)
    chunks = await _stream(replay, _responses(stream=True, tools=[WEATHER]))
    assert_chunk_convention(chunks)
    assert arguments_by_index(chunks)[0]["name"] == "get_weather"


def test_the_provider_says_whether_it_runs_builtin_tools():
    replay = Replay()
    assert _provider(replay).runs_builtin_tools
    assert not _provider(replay, base_url="https://openrouter.ai/api/v1").runs_builtin_tools
