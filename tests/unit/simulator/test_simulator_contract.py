"""The simulator speaks the shared contract: tool calls, signed reasoning, structured output."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest

from orchestra.providers.base import CallOptions, ProviderConfig
from orchestra.schemas.chat import ChatChunk, ChatRequest, ChatResponse
from orchestra.simulator import SimulatorProvider

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
                "days": {"type": "integer"},
            },
            "required": ["city", "unit"],
        },
    },
}
SEARCH = {
    "type": "function",
    "function": {
        "name": "search_docs",
        "description": "Search the documentation",
        "parameters": {"type": "object", "properties": {"query": {"type": "string"}}},
    },
}
ANSWER_SCHEMA = {
    "type": "object",
    "properties": {
        "answer": {"type": "string"},
        "confidence": {"type": "number", "minimum": 0, "maximum": 1},
        "sources": {"type": "array", "items": {"type": "string"}},
    },
    "required": ["answer", "confidence", "sources"],
    "additionalProperties": False,
}


def _provider() -> SimulatorProvider:
    config = ProviderConfig(name="simulator", type="simulator", options={"latency_scale": 0})
    return SimulatorProvider(config)


def _request(messages: list[dict[str, Any]] | str, **fields: Any) -> ChatRequest:
    if isinstance(messages, str):
        messages = [{"role": "user", "content": messages}]
    return ChatRequest(model="sim-large", messages=messages, **fields)


async def _complete(request: ChatRequest) -> ChatResponse:
    return await _provider().complete(request, "sim-large", CallOptions())


async def _stream(request: ChatRequest) -> list[ChatChunk]:
    return [c async for c in _provider().stream(request, "sim-large", CallOptions())]


def _assert_convention(chunks: list[ChatChunk]) -> None:
    """providers/chunks.py: role chunk, deltas, one finish chunk, one usage-only chunk."""
    assert chunks[0].choices[0].delta.role == "assistant"
    finishes = [c for c in chunks if c.choices and c.choices[0].finish_reason]
    assert len(finishes) == 1 and chunks[-2] is finishes[0]
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert len({c.id for c in chunks}) == 1


# tool calls -------------------------------------------------------------------------------


async def test_a_tool_fitting_the_question_is_called_with_valid_arguments() -> None:
    # Given two tools, the second one matching a word of the question
    request = _request("What is the weather in Paris?", tools=[SEARCH, WEATHER])
    # When the simulator answers
    response = await _complete(request)
    # Then it calls that tool, with arguments its schema accepts, in OpenAI's id style
    choice = response.choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.content is None
    (call,) = choice.message.tool_calls or []
    assert call.id.startswith("call_") and call.function.name == "get_weather"
    arguments = json.loads(call.function.arguments)
    jsonschema.validate(arguments, WEATHER["function"]["parameters"])
    assert arguments == {"city": "weather Paris", "unit": "celsius"}
    # And the same request gets the same call
    again = (await _complete(request)).choices[0].message.tool_calls
    assert again is not None and again[0] == call


@pytest.mark.parametrize(
    ("tool_choice", "expected"),
    [
        ({"type": "function", "function": {"name": "search_docs"}}, "search_docs"),
        ("required", "get_weather"),
        ("auto", "get_weather"),
    ],
)
async def test_tool_choice_names_the_tool(tool_choice: Any, expected: str) -> None:
    request = _request("Is it sunny in Oslo?", tools=[WEATHER, SEARCH], tool_choice=tool_choice)
    calls = (await _complete(request)).choices[0].message.tool_calls
    assert calls is not None and calls[0].function.name == expected


async def test_tool_choice_none_answers_in_text() -> None:
    request = _request("What is 2 + 2?", tools=[WEATHER], tool_choice="none")
    response = await _complete(request)
    assert response.choices[0].finish_reason == "stop"
    assert response.text() == "The answer is 4."


async def test_a_tool_result_is_answered_in_text() -> None:
    # Given the conversation after the tool was called
    call = {"id": "call_1", "type": "function", "function": {"name": "get_weather"}}
    messages = [
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "call_1", "content": "18 C and sunny"},
    ]
    # When the simulator answers, Then it reports the result in text
    response = await _complete(_request(messages, tools=[WEATHER]))
    assert response.choices[0].finish_reason == "stop"
    assert response.text() == "The result of get_weather is 18 C and sunny."


async def test_a_streamed_tool_call_comes_in_pieces() -> None:
    # Given a request with a tool, streamed
    request = _request("What is the weather in Paris?", tools=[WEATHER], stream=True)
    chunks = await _stream(request)
    _assert_convention(chunks)
    deltas = [d for c in chunks if c.choices for d in c.choices[0].delta.tool_calls or []]
    # Then the first piece has the id and the name, the arguments follow in several pieces
    assert deltas[0].id and deltas[0].id.startswith("call_")
    assert deltas[0].function == {"name": "get_weather", "arguments": ""}
    assert len(deltas) > 2 and all(d.id is None for d in deltas[1:])
    streamed = "".join((d.function or {}).get("arguments", "") for d in deltas)
    # And they add up to the non-streamed call, ending with finish_reason tool_calls
    calls = (await _complete(request)).choices[0].message.tool_calls
    assert calls is not None and streamed == calls[0].function.arguments
    assert deltas[0].id == calls[0].id
    assert chunks[-2].choices[0].finish_reason == "tool_calls"


# reasoning --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fields",
    [{"thinking": {"type": "enabled", "budget_tokens": 2048}}, {"reasoning_effort": "high"}],
)
async def test_reasoning_comes_first_signed_and_counted(fields: dict[str, Any]) -> None:
    response = await _complete(_request("What is 6 * 7?", **fields))
    message = response.choices[0].message
    assert message.content == "The answer is 42." and message.reasoning_content
    (block,) = message.thinking_blocks or []
    assert block["type"] == "thinking" and block["thinking"] == message.reasoning_content
    assert isinstance(block["signature"], str) and len(block["signature"]) >= 40
    usage = response.usage
    assert usage is not None and usage.reasoning_tokens > 0
    assert usage.completion_tokens > usage.reasoning_tokens  # completion includes reasoning


@pytest.mark.parametrize(
    "fields",
    [
        {},
        {"reasoning_effort": "minimal"},
        {"reasoning_effort": "none"},
        {"thinking": {"type": "disabled"}},
    ],
)
async def test_no_reasoning_unless_asked(fields: dict[str, Any]) -> None:
    response = await _complete(_request("What is 6 * 7?", **fields))
    message = response.choices[0].message
    assert message.reasoning_content is None and message.thinking_blocks is None
    assert response.usage is not None and response.usage.completion_tokens_details is None


async def test_streamed_reasoning_precedes_the_answer_and_ends_with_its_signature() -> None:
    request = _request("What is 6 * 7?", thinking={"type": "enabled", "budget_tokens": 1024})
    chunks = await _stream(request)
    _assert_convention(chunks)
    deltas = [c.choices[0].delta for c in chunks[1:-2]]
    kinds = [
        "reasoning" if d.reasoning_content else "signature" if d.reasoning_signature else "text"
        for d in deltas
    ]
    assert kinds == sorted(kinds, key=["reasoning", "signature", "text"].index)
    assert kinds.count("signature") == 1 and kinds.count("reasoning") > 1
    message = (await _complete(request)).choices[0].message
    assert "".join(d.reasoning_content or "" for d in deltas) == message.reasoning_content
    assert (message.thinking_blocks or [{}])[0]["signature"] == deltas[
        kinds.index("signature")
    ].reasoning_signature
    assert "".join(d.content or "" for d in deltas) == "The answer is 42."
    assert chunks[-1].usage is not None and chunks[-1].usage.reasoning_tokens > 0


# structured output ------------------------------------------------------------------------


async def test_json_schema_output_validates_against_the_schema() -> None:
    response_format = {
        "type": "json_schema",
        "json_schema": {"name": "answer", "schema": ANSWER_SCHEMA, "strict": True},
    }
    request = _request("What is the capital of France?", response_format=response_format)
    answer = json.loads((await _complete(request)).text())
    jsonschema.validate(answer, ANSWER_SCHEMA)
    assert "Paris" in answer["answer"]
    streamed = "".join(
        c.choices[0].delta.content or "" for c in await _stream(request) if c.choices
    )
    assert json.loads(streamed) == answer


async def test_json_object_output_is_a_small_object() -> None:
    request = _request("What is 2 + 2?", response_format={"type": "json_object"})
    assert json.loads((await _complete(request)).text()) == {"answer": "The answer is 4."}
