"""The cache key: what changes it, what does not, and that two namespaces never share."""

from __future__ import annotations

import time
from typing import Any

import pytest

from orchestra.cache.keys import answer_key, last_user_text, scope_key
from orchestra.cache.lru import ByteLRU
from orchestra.schemas.chat import ChatRequest, NativeBody

TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}
BASE: dict[str, Any] = {
    "model": "openai/gpt-4o-mini",
    "messages": [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "What is the capital of Austria?"},
    ],
    "temperature": 0,
}


def request(**changes: Any) -> ChatRequest:
    return ChatRequest.model_validate({**BASE, **changes})


def key(**changes: Any) -> str:
    return answer_key(request(**changes), "k:ci-bot")


def test_the_key_is_the_namespace_then_32_hex_digits() -> None:
    namespace, _, digest = key().rpartition(":")
    assert namespace == "k:ci-bot"
    assert len(digest) == 32 and int(digest, 16) >= 0


def test_the_same_request_gets_the_same_key() -> None:
    assert key() == key()


@pytest.mark.parametrize("namespaces", [("k:a", "k:b"), ("k:a", "t:a"), ("t:search", "g")])
def test_two_namespaces_never_share_a_key(namespaces: tuple[str, str]) -> None:
    first, second = (answer_key(request(), ns) for ns in namespaces)
    assert first != second
    assert first.startswith(namespaces[0] + ":") and second.startswith(namespaces[1] + ":")


@pytest.mark.parametrize(
    "changes",
    [
        {"model": "anthropic/claude-haiku"},
        {"model": "auto"},
        {"messages": [{"role": "user", "content": "What is the capital of Australia?"}]},
        {"messages": [*BASE["messages"][:1], {"role": "user", "content": "What is?"}]},
        {"messages": [{"role": "system", "content": "Be long."}, BASE["messages"][1]]},
        {"tools": [TOOL]},
        {"tool_choice": "required"},
        {"response_format": {"type": "json_object"}},
        {"temperature": 0.7},
        {"top_p": 0.5},
        {"seed": 7},
        {"max_tokens": 10},
        {"stop": ["\n"]},
        {"logit_bias": {"50256": -100}},  # a vendor extension (an extra field)
        {"reasoning_effort": "high"},
        {"fallbacks": ["anthropic/claude-haiku"]},
    ],
    ids=lambda changes: next(iter(changes)),
)
def test_every_answer_determining_field_changes_the_key(changes: dict[str, Any]) -> None:
    assert key(**changes) != key()


@pytest.mark.parametrize(
    "changes",
    [
        {"stream": True},
        {"stream": True, "stream_options": {"include_usage": True}},
        {"orchestra": {"cache": {"ttl": 60}}},
        {"user": "someone"},
        {"metadata": {"trace": "1"}},
        {"store": True},
        {"service_tier": "flex"},
    ],
    ids=lambda changes: "+".join(changes),
)
def test_fields_that_cannot_change_the_answer_leave_the_key(changes: dict[str, Any]) -> None:
    assert key(**changes) == key()


def test_the_order_of_keys_in_client_built_objects_does_not_matter() -> None:
    # Given the same tools, response format, extension and content parts, keys reordered
    schema_a = {"type": "json_schema", "json_schema": {"name": "a", "schema": {"type": "object"}}}
    schema_b = {"json_schema": {"schema": {"type": "object"}, "name": "a"}, "type": "json_schema"}
    tool_b = {"function": dict(reversed(list(TOOL["function"].items()))), "type": "function"}
    part_a = [{"type": "text", "text": "Hi"}, {"type": "image_url", "image_url": {"url": "x"}}]
    part_b = [{"text": "Hi", "type": "text"}, {"image_url": {"url": "x"}, "type": "image_url"}]
    first = request(
        tools=[TOOL],
        response_format=schema_a,
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
        logit_bias={"1": 1, "2": 2},
        messages=[{"role": "user", "content": part_a}],
    )
    second = ChatRequest.model_validate(
        {
            "logit_bias": {"2": 2, "1": 1},
            "messages": [{"content": part_b, "role": "user"}],
            "tool_choice": {"function": {"name": "get_weather"}, "type": "function"},
            "response_format": schema_b,
            "tools": [tool_b],
            "temperature": 0,
            "model": "openai/gpt-4o-mini",
        }
    )
    # Then both get one key
    assert answer_key(first, "g") == answer_key(second, "g")


def test_list_order_still_matters() -> None:
    other = {**TOOL, "function": {**TOOL["function"], "name": "get_time"}}
    assert key(tools=[TOOL, other]) != key(tools=[other, TOOL])


def native(body: dict[str, Any], fmt: str = "anthropic") -> ChatRequest:
    return request().with_native(NativeBody(format=fmt, body=body))


def test_a_native_body_keys_its_own_answers_minus_stream() -> None:
    body = {"model": "claude", "max_tokens": 100, "messages": [{"role": "user", "content": "Q"}]}
    assert answer_key(native(body), "g") != key()
    assert answer_key(native(body), "g") != answer_key(native(body, "gemini"), "g")
    assert answer_key(native(body), "g") == answer_key(native({**body, "stream": True}), "g")
    assert answer_key(native(body), "g") != answer_key(native({**body, "top_k": 5}), "g")
    reordered = dict(reversed(list(body.items())))
    assert answer_key(native(body), "g") == answer_key(native(reordered), "g")


def test_a_scope_ignores_only_the_last_user_message_text() -> None:
    austria = request()
    australia = request(messages=[BASE["messages"][0], {"role": "user", "content": "Australia?"}])
    assert scope_key(austria, "k:a") == scope_key(australia, "k:a")
    assert answer_key(austria, "k:a") != answer_key(australia, "k:a")
    # but the system prompt, the parameters and the namespace are in it
    assert scope_key(request(temperature=0.5), "k:a") != scope_key(austria, "k:a")
    system = [{"role": "system", "content": "Other."}, BASE["messages"][1]]
    assert scope_key(request(messages=system), "k:a") != scope_key(austria, "k:a")
    assert scope_key(austria, "k:b") != scope_key(austria, "k:a")


def test_the_scope_keeps_earlier_turns() -> None:
    turns = [
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello"},
        {"role": "user", "content": "Capital of Austria?"},
    ]
    changed = [{**turns[0], "content": "Hey"}, *turns[1:]]
    assert scope_key(request(messages=turns), "g") != scope_key(request(messages=changed), "g")


def test_last_user_text_joins_text_parts_and_refuses_images() -> None:
    parts = [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]
    assert last_user_text(request(messages=[{"role": "user", "content": parts}])) == "a\nb"
    image = [*parts, {"type": "image_url", "image_url": {"url": "x"}}]
    assert last_user_text(request(messages=[{"role": "user", "content": image}])) is None


def prompt(size: int) -> ChatRequest:
    text = "The quick brown fox jumps over the lazy dog near the riverbank. " * (size // 64 + 1)
    share = size // 8
    turns = [{"role": "system", "content": text[:share]}]
    turns += [
        {"role": "user" if i % 2 == 0 else "assistant", "content": text[:share]} for i in range(7)
    ]
    return request(messages=turns, tools=[TOOL], max_tokens=256)


def test_a_miss_for_a_10_kb_prompt_costs_well_under_a_tenth_of_a_millisecond() -> None:
    # the bench (bench/cache_cpu.py) is the measure; this guards against a 10x regression
    big, lru = prompt(10_000), ByteLRU(1 << 20)
    for _ in range(50):
        lru.get(answer_key(big, "k:a"))
    rounds = []
    for _ in range(5):
        start = time.process_time()
        for _ in range(200):
            lru.get(answer_key(big, "k:a"))
        rounds.append((time.process_time() - start) / 200)
    assert min(rounds) < 0.5e-3
