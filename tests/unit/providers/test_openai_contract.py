"""The OpenAI-compatible adapter and the extended contract: what each vendor is sent
(reasoning, cache_control, thinking, top_k, metadata, files, tool errors) and how
reasoning and usage details come back (recorded and documented payloads)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from orchestra.errors import ProviderBadRequest
from orchestra.providers.base import CallOptions, ProviderConfig
from orchestra.providers.openai import OpenAIProvider, parse_response
from orchestra.providers.openai_request import effort_for, vendor_of
from orchestra.schemas.chat import ChatRequest

from support.replay import Replay, assert_chunk_convention, collect, text_of

DOCUMENTED = Path(__file__).resolve().parents[2] / "fixtures" / "openai"
KEY = "sk-test-contract-0123456789abcdef"
SSE = {"content-type": "text/event-stream"}
JSON = {"content-type": "application/json"}
BASES = {
    "openai": "https://api.openai.com/v1",
    "openrouter": "https://openrouter.ai/api/v1",
    "deepseek": "https://api.deepseek.com/v1",
    "groq": "https://api.groq.com/openai/v1",
    "vllm": "https://vllm.example.test/v1",
}
EVERY_VENDOR = list(BASES)


def _provider(replay: Replay, name: str) -> OpenAIProvider:
    config = ProviderConfig(name=name, type="openai", base_url=BASES[name], api_key=KEY)
    return OpenAIProvider(config, replay.clients())


def _request(**fields: Any) -> ChatRequest:
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}], **fields}
    return ChatRequest.model_validate(body)


async def _sent(name: str, request: ChatRequest) -> dict[str, Any]:
    """What the adapter for vendor ``name`` sends upstream for ``request``."""
    replay = Replay(body=(DOCUMENTED / "deepseek_chat_cache_hit.json").read_bytes(), headers=JSON)
    await _provider(replay, name).complete(request, "upstream-model", CallOptions())
    sent: dict[str, Any] = replay.sent_json()
    return sent


# --- request ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", EVERY_VENDOR)
async def test_history_reasoning_and_tool_call_extras_are_never_sent(name):
    # Given a history whose assistant turn carries its reasoning and a Gemini signature
    request = _request(
        messages=[
            {"role": "user", "content": "Weather?"},
            {
                "role": "assistant",
                "content": "Checking.",
                "reasoning_content": "The user wants the weather.",
                "thinking_blocks": [{"type": "thinking", "thinking": "t", "signature": "s"}],
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "weather", "arguments": "{}"},
                        "thought_signature": "c2ln",
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "call_1", "content": "18C"},
        ]
    )
    # When it goes to any OpenAI-compatible vendor
    sent = await _sent(name, request)
    # Then the assistant turn is plain chat completions
    assert sent["messages"][1] == {
        "role": "assistant",
        "content": "Checking.",
        "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "weather", "arguments": "{}"}}
        ],
    }


CACHED_PART = {"type": "text", "text": "Long context", "cache_control": {"type": "ephemeral"}}
CACHED_TOOL = {
    "type": "function",
    "function": {"name": "lookup", "parameters": {"type": "object", "properties": {}}},
    "cache_control": {"type": "ephemeral"},
}


@pytest.mark.parametrize("name", EVERY_VENDOR)
async def test_cache_control_reaches_only_openrouter(name):
    request = _request(messages=[{"role": "user", "content": [CACHED_PART]}], tools=[CACHED_TOOL])
    sent = await _sent(name, request)
    if name == "openrouter":
        assert sent["messages"][0]["content"] == [CACHED_PART]
        assert sent["tools"] == [CACHED_TOOL]
    else:
        assert sent["messages"][0]["content"] == [{"type": "text", "text": "Long context"}]
        assert sent["tools"] == [{k: v for k, v in CACHED_TOOL.items() if k != "cache_control"}]


@pytest.mark.parametrize(
    ("budget", "effort"),
    [(1024, "low"), (2048, "low"), (4096, "medium"), (8192, "medium"), (16000, "high")],
)
def test_a_thinking_budget_maps_to_an_effort(budget, effort):
    assert effort_for(budget) == effort


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("openai", {"reasoning_effort": "medium"}),
        ("openrouter", {"reasoning": {"max_tokens": 5000}}),
        ("deepseek", {}),
        ("groq", {}),
        ("vllm", {}),
    ],
)
async def test_thinking_becomes_each_vendors_reasoning_knob_and_is_never_sent(name, expected):
    sent = await _sent(name, _request(thinking={"type": "enabled", "budget_tokens": 5000}))
    assert "thinking" not in sent
    assert {k: sent[k] for k in ("reasoning_effort", "reasoning") if k in sent} == expected


async def test_a_clients_own_reasoning_settings_win_over_thinking():
    thinking = {"type": "enabled", "budget_tokens": 30000}
    sent = await _sent("openai", _request(thinking=thinking, reasoning_effort="low"))
    assert sent["reasoning_effort"] == "low"
    sent = await _sent("openrouter", _request(thinking=thinking, reasoning={"effort": "low"}))
    assert sent["reasoning"] == {"effort": "low"}


@pytest.mark.parametrize("name", EVERY_VENDOR)
async def test_top_k_goes_everywhere_but_openai(name):
    sent = await _sent(name, _request(top_k=40))
    assert sent.get("top_k") == (None if name == "openai" else 40)


@pytest.mark.parametrize(
    ("name", "store", "kept"),
    [
        ("openai", True, True),
        ("openai", None, False),
        ("openrouter", True, False),
        ("deepseek", None, False),
    ],
)
async def test_metadata_only_to_openai_with_store(name, store, kept):
    fields: dict[str, Any] = {"metadata": {"user_id": "u-1"}}
    if store is not None:
        fields["store"] = store
    sent = await _sent(name, _request(**fields))
    assert ("metadata" in sent) is kept


@pytest.mark.parametrize("name", EVERY_VENDOR)
async def test_the_anthropic_beta_extra_is_never_sent(name):
    sent = await _sent(name, _request(anthropic_beta=["prompt-caching-2024-07-31"]))
    assert "anthropic_beta" not in sent and sent["model"] == "upstream-model"


@pytest.mark.parametrize("name", EVERY_VENDOR)
async def test_a_failed_tool_result_keeps_its_meaning_without_is_error(name):
    request = _request(
        messages=[
            {"role": "user", "content": "Weather?"},
            {
                "role": "assistant",
                "tool_calls": [
                    {"id": "c1", "type": "function", "function": {"name": "w", "arguments": "{}"}}
                ],
            },
            {"role": "tool", "tool_call_id": "c1", "content": "city not found", "is_error": True},
            {"role": "tool", "tool_call_id": "c2", "content": "ok", "is_error": False},
        ]
    )
    sent = await _sent(name, request)
    assert sent["messages"][2] == {
        "role": "tool",
        "tool_call_id": "c1",
        "content": "Error: city not found",
    }
    assert sent["messages"][3] == {"role": "tool", "tool_call_id": "c2", "content": "ok"}


PDF = "data:application/pdf;base64,JVBERi0xLjQK"


@pytest.mark.parametrize("name", EVERY_VENDOR)
async def test_an_inline_document_gets_a_filename(name):
    parts = [
        {"type": "file", "file": {"file_data": PDF}},
        {"type": "file", "file": {"file_data": PDF, "filename": "q3.pdf"}},
    ]
    sent = await _sent(name, _request(messages=[{"role": "user", "content": parts}]))
    assert sent["messages"][0]["content"] == [
        {"type": "file", "file": {"file_data": PDF, "filename": "document.pdf"}},
        {"type": "file", "file": {"file_data": PDF, "filename": "q3.pdf"}},
    ]


async def test_openrouter_takes_a_document_url_as_file_data():
    part = {"type": "file", "file": {"file_url": "https://docs.example.test/a/report.pdf"}}
    sent = await _sent("openrouter", _request(messages=[{"role": "user", "content": [part]}]))
    assert sent["messages"][0]["content"] == [
        {
            "type": "file",
            "file": {
                "file_data": "https://docs.example.test/a/report.pdf",
                "filename": "report.pdf",
            },
        }
    ]


async def test_openai_refuses_a_document_url_naming_the_part_and_sends_nothing():
    # Given a document by URL, which OpenAI's chat completions cannot take
    part = {"type": "file", "file": {"file_url": "https://docs.example.test/report.pdf"}}
    request = _request(
        messages=[{"role": "user", "content": [{"type": "text", "text": "Sum up"}, part]}]
    )
    replay = Replay(body=b"{}", headers=JSON)
    # When the OpenAI adapter is asked to send it
    with pytest.raises(ProviderBadRequest) as refused:
        await _provider(replay, "openai").complete(request, "gpt-4o", CallOptions())
    # Then the client is told which part, and nothing reached OpenAI
    assert refused.value.status == 400 and refused.value.param == "messages[0].content[1]"
    assert "file_data" in refused.value.message and replay.requests == []


@pytest.mark.parametrize(
    ("name", "base_url", "vendor"),
    [
        ("my-openai", "https://api.openai.com/v1", "openai"),
        ("azure", "https://team.openai.azure.com/openai/v1", "openai"),
        ("router", "https://openrouter.ai/api/v1", "openrouter"),
        ("ds", "https://api.deepseek.com", "deepseek"),
        ("openai", "https://proxy.example.test/v1", "openai"),
        ("local", "http://127.0.0.1:8000/v1", "other"),
    ],
)
def test_the_vendor_comes_from_the_host_then_the_name(name, base_url, vendor):
    assert vendor_of(ProviderConfig(name=name, type="openai", base_url=base_url)) == vendor


# --- response --------------------------------------------------------------------------


def _documented(name: str) -> Any:
    import json

    return json.loads((DOCUMENTED / name).read_text())


@pytest.mark.parametrize(
    ("fixture", "reasoning", "usage"),
    [
        ("deepseek_reasoner_completion.json", "Compare the tenths", (18, 120, 0, 104)),
        ("deepseek_chat_cache_hit.json", None, (1536, 12, 1280, 0)),
        ("openrouter_reasoning_completion.json", "Spell it out", (2048, 96, 1792, 64)),
        ("openrouter_reasoning_details_only.json", "The user asks", (14, 20, 0, 16)),
        ("groq_reasoning_completion.json", "The user wants", (22, 48, 0, 0)),
        ("openai_cached_reasoning_completion.json", None, (2006, 300, 1920, 256)),
    ],
)
def test_answers_bring_back_reasoning_and_usage_details(fixture, reasoning, usage):
    response = parse_response(_documented(fixture), "m")
    message = response.choices[0].message
    assert message.content
    if reasoning is None:
        assert message.reasoning_content is None
    else:
        assert (message.reasoning_content or "").startswith(reasoning)
    got = response.usage
    assert got is not None
    assert (got.prompt_tokens, got.completion_tokens) == usage[:2]
    assert (got.cached_tokens, got.reasoning_tokens) == usage[2:]


def test_encrypted_reasoning_details_are_not_passed_off_as_text():
    response = parse_response(_documented("openrouter_reasoning_details_only.json"), "m")
    assert response.choices[0].message.reasoning_content == (
        "The user asks for the capital of France."
    )


def test_recorded_openrouter_answer_with_zero_details_has_none(recorded):
    response = parse_response(recorded.json("openrouter/chat_completion_with_cost.json"), "m")
    assert response.usage is not None
    assert response.usage.prompt_tokens_details is None
    assert response.usage.completion_tokens_details is None
    assert response.choices[0].message.reasoning_content is None


def _reasoning_of(chunks: list[Any]) -> str:
    return "".join(c.choices[0].delta.reasoning_content or "" for c in chunks if c.choices)


@pytest.mark.parametrize(
    ("name", "fixture", "reasoning", "text", "usage"),
    [
        (
            "deepseek",
            "deepseek_reasoner_stream.sse",
            "Compare the tenths.",
            "9.11 is smaller.",
            (18, 40, 0, 30),
        ),
        (
            "openrouter",
            "openrouter_reasoning_stream.sse",
            "Spell it out.",
            "Three.",
            (2048, 40, 1792, 30),
        ),
    ],
)
@pytest.mark.parametrize("piece", [None, 9])
async def test_streams_carry_reasoning_deltas_and_usage_details(
    name, fixture, reasoning, text, usage, piece
):
    replay = Replay(body=(DOCUMENTED / fixture).read_bytes(), headers=SSE, piece=piece)
    chunks = await collect(_provider(replay, name).stream(_request(), "m", CallOptions()))
    assert_chunk_convention(chunks)
    assert _reasoning_of(chunks) == reasoning and text_of(chunks) == text
    got = chunks[-1].usage
    assert got is not None
    assert (got.prompt_tokens, got.completion_tokens) == usage[:2]
    assert (got.cached_tokens, got.reasoning_tokens) == usage[2:]
    assert replay.sent_json()["stream_options"] == {"include_usage": True}


async def test_a_whole_answer_to_a_stream_request_keeps_its_reasoning():
    body = (DOCUMENTED / "deepseek_reasoner_completion.json").read_bytes()
    replay = Replay(body=body, headers=JSON)
    chunks = await collect(_provider(replay, "deepseek").stream(_request(), "m", CallOptions()))
    assert_chunk_convention(chunks)
    assert _reasoning_of(chunks).startswith("Compare the tenths")
    assert chunks[-1].usage is not None and chunks[-1].usage.reasoning_tokens == 104
