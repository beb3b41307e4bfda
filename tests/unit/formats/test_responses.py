"""OpenAI Responses in: request items into chat messages, answers and streams back out."""

from __future__ import annotations

import json
from typing import Any

import pytest

from orchestra.errors import InvalidRequest, StreamInterrupted
from orchestra.formats.responses import parse_responses_request
from orchestra.formats.responses_output import history, record, rendered
from orchestra.formats.responses_stream import ResponseEvents
from orchestra.schemas.chat import (
    AssistantMessage,
    ChatChunk,
    ChatMessage,
    ChatResponse,
    Choice,
    ChunkChoice,
    Delta,
    ToolCallDelta,
    Usage,
)


def parse(**body: Any) -> Any:
    return parse_responses_request(json.dumps({"model": "gpt-5", **body}).encode())


def test_a_string_input_is_one_user_message_and_instructions_a_system_message() -> None:
    inbound = parse(input="Hi", instructions="Be brief", max_output_tokens=50, temperature=0.2)
    chat = inbound.chat([])
    assert [(m.role, m.content) for m in chat.messages] == [("system", "Be brief"), ("user", "Hi")]
    assert chat.max_completion_tokens == 50 and chat.temperature == 0.2
    assert chat.native is not None and chat.native.format == "openai-responses"
    assert chat.native.body["instructions"] == "Be brief"
    # the instructions are this turn's only: not part of what is kept for the next
    assert [m.role for m in inbound.new_messages] == ["user"]


def test_items_become_chat_messages_with_tool_calls_results_and_reasoning() -> None:
    image = "data:image/png;base64,iVBORw0KGgo="
    pdf = "data:application/pdf;base64,JVBERi0x"
    inbound = parse(
        input=[
            {"role": "developer", "content": "Use tools"},
            {
                "type": "message",
                "role": "user",
                "content": [
                    {"type": "input_text", "text": "Look:"},
                    {"type": "input_image", "image_url": image, "detail": "low"},
                    {"type": "input_file", "file_data": pdf, "filename": "a.pdf"},
                ],
            },
            {"type": "reasoning", "id": "rs_1", "summary": [{"type": "summary_text", "text": "T"}]},
            {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"},
            {"type": "function_call", "call_id": "c2", "name": "g", "arguments": '{"a":1}'},
            {"type": "function_call_output", "call_id": "c1", "output": "one"},
            {"type": "function_call_output", "call_id": "c2", "output": "two"},
            {"role": "assistant", "content": [{"type": "output_text", "text": "Done"}]},
        ]
    )
    developer, user, calls, one, two, done = inbound.chat([]).messages
    assert (developer.role, developer.content) == ("developer", "Use tools")
    assert user.content == [
        {"type": "text", "text": "Look:"},
        {"type": "image_url", "image_url": {"url": image, "detail": "low"}},
        {"type": "file", "file": {"file_data": pdf, "filename": "a.pdf"}},
    ]
    assert calls.role == "assistant" and calls.reasoning_content == "T"
    assert [(c.id, c.function.name, c.function.arguments) for c in calls.tool_calls or []] == [
        ("c1", "f", "{}"),
        ("c2", "g", '{"a":1}'),
    ]
    assert (one.role, one.tool_call_id, one.content) == ("tool", "c1", "one")
    assert two.tool_call_id == "c2"
    assert (done.role, done.content) == ("assistant", "Done")


def test_tools_tool_choice_text_format_and_reasoning_map_to_chat() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "string"}}}
    chat = parse(
        input="x",
        tools=[{"type": "function", "name": "f", "parameters": schema, "strict": True}],
        tool_choice={"type": "function", "name": "f"},
        text={"format": {"type": "json_schema", "name": "out", "schema": schema, "strict": True}},
        reasoning={"effort": "high", "summary": "auto"},
        parallel_tool_calls=False,
    ).chat([])
    assert chat.tools == [
        {"type": "function", "function": {"name": "f", "parameters": schema, "strict": True}}
    ]
    assert chat.tool_choice == {"type": "function", "function": {"name": "f"}}
    assert chat.response_format == {
        "type": "json_schema",
        "json_schema": {"name": "out", "schema": schema, "strict": True},
    }
    assert chat.reasoning_effort == "high"
    assert (chat.model_extra or {}).get("parallel_tool_calls") is False
    # Responses-only fields never reach a chat upstream
    assert "store" not in chat.model_dump(exclude_none=True)


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"input": "x", "tools": [{"name": "f"}]}, "tools[0].type"),
        (
            {
                "input": [
                    {"role": "user", "content": [{"type": "input_image", "file_id": "file-1"}]}
                ]
            },
            "input[0].content[0].file_id",
        ),
        (
            {"input": [{"role": "user", "content": [{"type": "input_file", "file_id": "file-1"}]}]},
            "input[0].content[0].file_id",
        ),
        ({"input": [{"role": "tool", "content": "x"}]}, "input[0].role"),
        ({"input": [{"type": "web_search_call", "id": "ws"}]}, "input[0].type"),
        ({"input": [{"type": "function_call", "name": "f"}]}, "input[0].call_id"),
        ({"input": "x", "tool_choice": {"type": "web_search"}}, "tool_choice"),
        ({"input": "x", "text": {"format": {"type": "xml"}}}, "text.format.type"),
        ({"input": "x", "temperature": 3}, "temperature"),
        ({"input": "x", "background": True}, "background"),
        ({}, "input"),
    ],
)
def test_bad_requests_name_the_field(body: dict[str, Any], param: str) -> None:
    with pytest.raises(InvalidRequest) as info:
        parse(**body).chat([])
    assert info.value.param == param
    assert info.value.status == 400


def test_built_in_tools_stay_in_the_native_body_and_mark_the_request() -> None:
    tools = [{"type": "function", "name": "f"}, {"type": "web_search"}, {"type": "file_search"}]
    chat = parse(input="x", tools=tools, tool_choice={"type": "web_search"}).chat([])
    # only the function tool reaches a chat upstream; a choice naming a built-in stays native
    assert chat.tools == [{"type": "function", "function": {"name": "f"}}]
    assert chat.tool_choice is None
    assert chat.native is not None and chat.native.body["tools"] == tools
    assert chat.native.builtin_tools == ((1, "web_search"), (2, "file_search"))


def test_only_built_in_tools_leave_the_chat_request_without_tools() -> None:
    chat = parse(input="x", tools=[{"type": "web_search"}]).chat([])
    assert chat.tools is None
    assert chat.native is not None and chat.native.builtin_tools == ((0, "web_search"),)


def test_a_whole_answer_renders_as_a_response_object() -> None:
    inbound = parse(input="x", instructions="I", metadata={"k": "v"})
    message = AssistantMessage(content="Hello", reasoning_content="thought")
    answer = ChatResponse(
        model="m",
        choices=[Choice(message=message, finish_reason="length")],
        usage=Usage.of(10, 5, cached=4, reasoning=2),
    )
    body = rendered(inbound.request, answer, model="openai/gpt-5", response_id="resp_1")
    assert body["status"] == "incomplete"
    assert body["incomplete_details"] == {"reason": "max_output_tokens"}
    reasoning, text = body["output"]
    assert reasoning["summary"] == [{"type": "summary_text", "text": "thought"}]
    assert text["content"][0]["text"] == "Hello" and text["id"].startswith("msg_")
    assert body["usage"]["input_tokens_details"]["cached_tokens"] == 4
    assert body["usage"]["output_tokens_details"] == {"reasoning_tokens": 2}
    assert (body["instructions"], body["metadata"], body["model"]) == (
        "I",
        {"k": "v"},
        "openai/gpt-5",
    )


def test_the_kept_conversation_round_trips_without_the_instructions() -> None:
    turn = [ChatMessage(role="user", content="a"), ChatMessage(role="assistant", content="b")]
    kept = json.loads(json.dumps(record({"id": "resp_1"}, turn)))
    assert [(m.role, m.content) for m in history(kept)] == [("user", "a"), ("assistant", "b")]


def _chunk(delta: Delta, finish: str | None = None) -> ChatChunk:
    return ChatChunk(choices=[ChunkChoice(delta=delta, finish_reason=finish)])


def _decode(events: list[bytes]) -> list[dict[str, Any]]:
    decoded = []
    for raw in events:
        kind, data = raw.decode().strip().split("\n")
        payload = json.loads(data.removeprefix("data: "))
        assert kind == f"event: {payload['type']}"
        decoded.append(payload)
    return decoded


def test_a_stream_becomes_typed_events_in_order_with_the_final_response() -> None:
    writer = ResponseEvents(parse(input="x").request, "resp_1", "sim/m", 1)
    events = writer.start()
    events += writer.feed(_chunk(Delta(role="assistant", reasoning_content="Hm")))
    events += writer.feed(_chunk(Delta(content="Hel")))
    events += writer.feed(_chunk(Delta(content="lo")))
    call = ToolCallDelta(index=0, id="c1", function={"name": "f", "arguments": '{"a"'})
    events += writer.feed(_chunk(Delta(tool_calls=[call])))
    more = ToolCallDelta(index=0, function={"arguments": ":1}"})
    events += writer.feed(_chunk(Delta(tool_calls=[more]), finish="tool_calls"))
    events += writer.feed(ChatChunk(usage=Usage.of(3, 4)))
    closing, body = writer.finish()
    decoded = _decode(events + closing)
    assert [e["sequence_number"] for e in decoded] == list(range(len(decoded)))
    assert [e["type"] for e in decoded] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.reasoning_summary_part.added",
        "response.reasoning_summary_text.delta",
        "response.reasoning_summary_text.done",
        "response.reasoning_summary_part.done",
        "response.output_item.done",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.output_item.added",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert [item["type"] for item in body["output"]] == ["reasoning", "message", "function_call"]
    assert body["output"][2]["arguments"] == '{"a":1}' and body["usage"]["total_tokens"] == 7
    turn = writer.assistant_turn()
    assert (turn.content, turn.reasoning_content) == ("Hello", "Hm")
    assert turn.tool_calls is not None and turn.tool_calls[0].id == "c1"


def test_a_failed_stream_ends_with_error_and_response_failed_keys_scrubbed() -> None:
    writer = ResponseEvents(parse(input="x").request, "resp_1", "sim/m", 1)
    writer.start()
    writer.feed(_chunk(Delta(content="Hi")))
    failure = StreamInterrupted("upstream said sk-secret", provider="p", model="m")
    error, failed = _decode(writer.fail(failure, lambda text: text.replace("sk-secret", "***")))
    assert error["type"] == "error" and error["code"] == "stream_interrupted"
    assert "sk-secret" not in json.dumps([error, failed])
    assert failed["type"] == "response.failed" and failed["response"]["status"] == "failed"
    assert failed["response"]["error"]["message"] == "upstream said ***"
