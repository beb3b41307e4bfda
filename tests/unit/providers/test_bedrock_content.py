"""What the Bedrock adapter sends for prompt-cache marks and documents, and the parts
Converse cannot take (refused as client errors naming the part, Bedrock never called)."""

from __future__ import annotations

from typing import Any

import pytest

from orchestra.errors import ProviderBadRequest
from orchestra.providers.base import CallOptions
from orchestra.providers.bedrock_content import ModelTraits, document_name
from orchestra.schemas.chat import ChatRequest

from support.bedrock import JSON, MODEL, WEATHER, bedrock_provider, chat_request
from support.replay import Replay

pytestmark = pytest.mark.usefixtures("bedrock_credentials")

NOVA = "us.amazon.nova-lite-v1:0"
LLAMA = "meta.llama3-70b-instruct-v1:0"
CACHED = {"type": "ephemeral"}
POINT = {"cachePoint": {"type": "default"}}
PDF = "JVBERi0xLjQK"


async def _sent(request: ChatRequest, model: str = MODEL) -> dict[str, Any]:
    replay = Replay(body=b'{"output":{"message":{"content":[]}}}', headers=JSON)
    await bedrock_provider(replay).complete(request, model, CallOptions())
    return replay.sent_json()


def _cached_request() -> ChatRequest:
    return chat_request(
        messages=[
            {
                "role": "system",
                "content": [{"type": "text", "text": "Long rules.", "cache_control": CACHED}],
            },
            {"role": "system", "content": "Be brief."},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "Context.", "cache_control": CACHED},
                    {"type": "text", "text": "Question?"},
                ],
            },
        ],
        tools=[{**WEATHER, "cache_control": CACHED}],
    )


@pytest.mark.parametrize("model", [MODEL, NOVA, "anthropic.claude-3-5-haiku-20241022-v1:0"])
async def test_cache_control_becomes_a_cache_point_after_the_marked_block(model):
    body = await _sent(_cached_request(), model)
    assert body["system"] == [{"text": "Long rules."}, POINT, {"text": "Be brief."}]
    assert body["messages"][0]["content"] == [{"text": "Context."}, POINT, {"text": "Question?"}]
    tools = body["toolConfig"]["tools"]
    assert [next(iter(t)) for t in tools] == ["toolSpec", "cachePoint"]


async def test_cache_control_is_dropped_for_models_without_prompt_caching():
    body = await _sent(_cached_request(), LLAMA)
    assert body["system"] == [{"text": "Long rules."}, {"text": "Be brief."}]
    assert body["messages"][0]["content"] == [{"text": "Context."}, {"text": "Question?"}]
    assert [next(iter(t)) for t in body["toolConfig"]["tools"]] == ["toolSpec"]


@pytest.mark.parametrize(
    ("model", "claude", "caching"),
    [
        ("anthropic.claude-3-7-sonnet-20250219-v1:0", True, True),
        ("global.anthropic.claude-sonnet-4-5-20250929-v1:0", True, True),
        ("arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-v2", True, True),
        ("arn:aws:bedrock:us-east-1:1:inference-profile/eu.amazon.nova-pro-v1:0", False, True),
        ("amazon.titan-text-express-v1", False, False),
        ("mistral.mistral-large-2402-v1:0", False, False),
    ],
)
def test_model_traits_are_read_from_the_id(model, claude, caching):
    assert ModelTraits.of(model) == ModelTraits(claude=claude, caching=caching)


async def test_tool_results_with_parts_keep_them():
    image = {"url": "data:image/png;base64,iVBORw0KGgo="}
    request = chat_request(
        messages=[
            {"role": "user", "content": "Plot it."},
            {
                "role": "tool",
                "tool_call_id": "t1",
                "content": [
                    {"type": "text", "text": "The chart.", "cache_control": CACHED},
                    {"type": "image_url", "image_url": image},
                ],
            },
        ]
    )
    body = await _sent(request)
    assert body["messages"][0]["content"][1:] == [
        {
            "toolResult": {
                "toolUseId": "t1",
                "content": [
                    {"text": "The chart."},
                    {"image": {"format": "png", "source": {"bytes": "iVBORw0KGgo="}}},
                ],
            }
        },
        POINT,
    ]


def _file(data: str, filename: str | None = None) -> dict[str, Any]:
    file = {"file_data": data} | ({"filename": filename} if filename else {})
    return {"type": "file", "file": file}


async def test_file_parts_become_documents():
    xlsx = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    request = chat_request(
        messages=[
            {
                "role": "user",
                "content": [
                    _file(f"data:application/pdf;base64,{PDF}", "Q3 report (final).v2.pdf"),
                    _file("data:text/markdown;base64,IyBUaXRsZQ==", "notes_2025/*draft*.md"),
                    _file(f"data:{xlsx};base64,UEsDBA=="),
                    _file("data:application/octet-stream;base64,YSxiCg==", "table.CSV"),
                    {"type": "text", "text": "Compare them.", "cache_control": CACHED},
                ],
            }
        ]
    )
    body = await _sent(request)
    assert body["messages"][0]["content"] == [
        {"document": {"format": "pdf", "name": "Q3 report (final)-v2", "source": {"bytes": PDF}}},
        {
            "document": {
                "format": "md",
                "name": "notes-2025-draft-",
                "source": {"bytes": "IyBUaXRsZQ=="},
            }
        },
        {"document": {"format": "xlsx", "name": "document", "source": {"bytes": "UEsDBA=="}}},
        {"document": {"format": "csv", "name": "table", "source": {"bytes": "YSxiCg=="}}},
        {"text": "Compare them."},
        POINT,
    ]


@pytest.mark.parametrize(
    ("name", "expected"),
    [("a  b\tc", "a b c"), ("../../etc", "-etc"), ("", "document"), ("x" * 300, "x" * 200)],
)
def test_document_names_hold_only_what_converse_accepts(name, expected):
    assert document_name(name) == expected


@pytest.mark.parametrize(
    ("part", "message"),
    [
        ({"type": "file", "file": {"file_url": "https://example.com/a.pdf"}}, "file_url"),
        (_file("data:application/zip;base64,UEsDBA==", "a.zip"), "application/zip"),
        (_file("not a data url"), "data: URL"),
        ({"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}, "data: URLs"),
    ],
)
async def test_parts_converse_cannot_take_are_client_errors_naming_the_part(part, message):
    replay = Replay(body=b"{}", headers=JSON)
    request = chat_request(
        messages=[
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": [{"type": "text", "text": "See:"}, part]},
        ]
    )
    with pytest.raises(ProviderBadRequest, match=message) as caught:
        await bedrock_provider(replay).complete(request, MODEL, CallOptions())
    assert caught.value.param == "messages[1].content[1]"
    assert str(caught.value).startswith("messages[1].content[1]: ")
    assert replay.requests == []
