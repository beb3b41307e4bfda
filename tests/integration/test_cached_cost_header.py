"""The cost header of an answer that read and wrote Anthropic's prompt cache, through the app.

An Anthropic upstream on 127.0.0.1 replays the recorded Messages answer with the usage of a
cached call (the fields as Anthropic's prompt-caching docs give them: ``input_tokens``
without the cache, ``cache_creation_input_tokens``, ``cache_read_input_tokens``). The
``x-orchestra-cost-usd`` header must be the hand-computed figure: each prompt token priced
once, reads at 0.1x and writes at 1.25x the input price (LiteLLM #11364, #14849, #29145
priced such answers at the full price or counted the cached tokens twice).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from orchestra.config import Settings

from support.gateway import gateway_client, providers_file, started
from support.upstream import FakeUpstream, Reply

CLAUDE_KEY = "sk-ant-claude-0123456789abcdef"
MODEL = "claude/claude-sonnet-4-5"
HI = [{"role": "user", "content": "What is the capital of France?"}]
#: 12 fresh input tokens, 1500 written to the cache, 2048 read from it, 10 output, at
#: $3 input / $15 output per million: 12*3000 + 1500*3750 + 2048*300 + 10*15000 nanos
EXPECTED_NANOS = 12 * 3000 + 1500 * 3750 + 2048 * 300 + 10 * 15000


def _cached_answer(recorded: Any) -> dict[str, Any]:
    answer = recorded.json("anthropic/messages_basic.json")
    answer["usage"].update(
        {
            "input_tokens": 12,
            "cache_creation_input_tokens": 1500,
            "cache_read_input_tokens": 2048,
            "cache_creation": {"ephemeral_5m_input_tokens": 1500, "ephemeral_1h_input_tokens": 0},
            "output_tokens": 10,
        }
    )
    return answer


@pytest.fixture
async def claude() -> AsyncIterator[FakeUpstream]:
    async with started({"claude": FakeUpstream()}) as fakes:
        yield fakes["claude"]


def _settings(tmp_path: Path, url: str) -> Settings:
    model = {
        "id": "claude-sonnet-4-5",
        "context_window": 200000,
        "quality": 1300,
        "input_price": 3e-6,
        "output_price": 1.5e-5,
    }
    config = providers_file(tmp_path, {"claude": ("anthropic", url, model)})
    return Settings(config=str(config), request_deadline_s=5.0)


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/chat/completions", {"model": MODEL, "messages": HI}),
        ("/v1/messages", {"model": MODEL, "max_tokens": 64, "messages": HI}),
    ],
)
async def test_the_cost_header_prices_cache_reads_and_writes_as_anthropic_does(
    tmp_path: Path, claude: FakeUpstream, recorded: Any, path: str, body: dict[str, Any]
) -> None:
    # Given an Anthropic answer that wrote 1500 prompt tokens to the cache and read 2048
    claude.enqueue(Reply.json(_cached_answer(recorded)))
    settings = _settings(tmp_path, claude.base_url)
    async with gateway_client(settings, {"CLAUDE_KEY": CLAUDE_KEY}) as client:
        # When a client asks through either inbound format
        response = await client.post(path, json=body)
    # Then the header is the hand-computed cost, to the header's 8 decimals
    assert response.status_code == 200, response.text
    assert response.headers["x-orchestra-cost-usd"] == f"{EXPECTED_NANOS / 1e9:.8f}"
    assert response.headers["x-orchestra-cost-usd"] == "0.00642540"
    # and not the full-price figure (every prompt token at $3)
    assert float(response.headers["x-orchestra-cost-usd"]) < (3560 * 3e-6 + 10 * 1.5e-5)
    assert CLAUDE_KEY not in response.text + json.dumps(dict(response.headers))
