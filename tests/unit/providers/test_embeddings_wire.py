"""Embedding wire mappings (OpenAI-compatible, Gemini, Bedrock Titan and Cohere), replayed
from the vendors' documented examples (``tests/fixtures/embeddings``, see PROVENANCE.md)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import httpx
import pytest

from orchestra.errors import MalformedResponse, ProviderBadRequest, RateLimited
from orchestra.providers.base import CallOptions, ProviderConfig
from orchestra.providers.embeddings import float32_base64, float32_vector
from orchestra.providers.registry import build_registry
from orchestra.transport.http import HttpClients

from support.bedrock import assert_signature_covers_what_was_sent
from support.replay import Replay

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "embeddings"
JSON = {"content-type": "application/json"}
KEY = "sk-embed-test-0123456789"


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def raw(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def client(kind: str, transport: httpx.AsyncBaseTransport, **config: Any) -> Any:
    """The provider's embedding client, made the way the gateway makes it (the registry)."""
    defaults: dict[str, Any] = {
        "openai": {"base_url": "https://api.openai.com/v1", "api_key": KEY},
        "gemini": {"api_key": KEY},
        "bedrock": {"region": "us-east-1"},
    }[kind]
    settings = {**defaults, **config}
    registry = build_registry(
        [ProviderConfig(name=kind, type=kind, **settings)],
        HttpClients.with_transport(transport),
    )
    embedder = registry.embedder(kind)
    assert embedder is not None
    return embedder


def replayed(kind: str, replay: Replay, **config: Any) -> Any:
    return client(kind, httpx.MockTransport(replay.handler), **config)


# --- OpenAI-compatible -----------------------------------------------------------------


async def test_openai_posts_the_documented_request_and_reads_vectors_in_index_order():
    replay = Replay(body=raw("openai_response.json"), headers=JSON)
    texts = ["The food was delicious and the waiter...", "second"]
    vectors, tokens = await replayed("openai", replay).embed(
        texts, "text-embedding-3-small", None, CallOptions()
    )
    sent = replay.requests[0]
    assert str(sent.url) == "https://api.openai.com/v1/embeddings"
    assert sent.headers["authorization"] == f"Bearer {KEY}"
    documented = fixture("openai_request.json")
    assert replay.sent_json() == {**documented, "input": texts}
    assert vectors[0] == [0.0023064255, -0.009327292, -0.0028842222]  # index 0 came second
    assert vectors[1][0] == -0.006929283
    assert tokens == 8


async def test_openai_forwards_dimensions_and_reads_base64_vectors():
    vector = [0.25, -0.5, 0.125]
    body = {"data": [{"index": 0, "embedding": float32_base64(vector)}], "usage": {}}
    replay = Replay(body=json.dumps(body).encode(), headers=JSON)
    vectors, tokens = await replayed("openai", replay).embed(
        ["hello world"], "text-embedding-3-large", 256, CallOptions()
    )
    assert replay.sent_json()["dimensions"] == 256
    assert vectors == [vector] and tokens > 0  # no usage given: estimated


async def test_openai_rate_limit_is_typed_with_retry_after():
    replay = Replay(
        status=429, body=raw("openai_error_429.json"), headers={**JSON, "retry-after": "3"}
    )
    with pytest.raises(RateLimited) as info:
        await replayed("openai", replay).embed(["x"], "text-embedding-3-small", None, CallOptions())
    assert info.value.retry_after == 3.0 and KEY not in str(info.value)


async def test_openai_answer_with_too_few_vectors_is_malformed():
    body = {"data": [{"index": 0, "embedding": [0.1]}], "usage": {"prompt_tokens": 2}}
    replay = Replay(body=json.dumps(body).encode(), headers=JSON)
    with pytest.raises(MalformedResponse):
        await replayed("openai", replay).embed(["a", "b"], "m", None, CallOptions())


async def test_openai_answer_without_data_is_malformed():
    replay = Replay(body=b'{"object": "list"}', headers=JSON)
    with pytest.raises(MalformedResponse):
        await replayed("openai", replay).embed(["a"], "m", None, CallOptions())


# --- Gemini ----------------------------------------------------------------------------


async def test_gemini_batch_embeds_with_the_documented_body_and_key_header():
    replay = Replay(body=raw("gemini_batch_response.json"), headers=JSON)
    documented = fixture("gemini_batch_request.json")
    texts = [r["content"]["parts"][0]["text"] for r in documented["requests"]]
    vectors, tokens = await replayed("gemini", replay).embed(
        texts, "gemini-embedding-001", None, CallOptions()
    )
    sent = replay.requests[0]
    assert sent.url.path == "/v1beta/models/gemini-embedding-001:batchEmbedContents"
    assert sent.headers["x-goog-api-key"] == KEY and KEY not in str(sent.url)
    assert replay.sent_json() == documented
    assert vectors[1] == [-0.007975637, 0.02141896, -0.002576027, -0.0387402]
    assert tokens > 0


async def test_gemini_output_dimensionality_is_sent_and_shortened_vectors_normalised():
    replay = Replay(body=raw("gemini_batch_response.json"), headers=JSON)
    vectors, _ = await replayed("gemini", replay).embed(
        ["a", "b"], "gemini-embedding-001", 768, CallOptions()
    )
    assert all(r["outputDimensionality"] == 768 for r in replay.sent_json()["requests"])
    assert all(math.isclose(math.sqrt(sum(v * v for v in vec)), 1.0) for vec in vectors)


async def test_gemini_splits_more_than_100_texts_into_batches_in_order():
    def handler(request: httpx.Request) -> httpx.Response:
        texts = [r["content"]["parts"][0]["text"] for r in json.loads(request.content)["requests"]]
        return httpx.Response(200, json={"embeddings": [{"values": [float(t)]} for t in texts]})

    embedder = client("gemini", httpx.MockTransport(handler))
    texts = [str(i) for i in range(250)]
    vectors, _ = await embedder.embed(texts, "gemini-embedding-001", None, CallOptions())
    assert [v[0] for v in vectors] == [float(i) for i in range(250)]


async def test_gemini_quota_error_is_rate_limited():
    replay = Replay(status=429, body=raw("gemini_error_429.json"), headers=JSON)
    with pytest.raises(RateLimited):
        await replayed("gemini", replay).embed(["x"], "gemini-embedding-001", None, CallOptions())


# --- Bedrock ---------------------------------------------------------------------------

pytestmark_bedrock = pytest.mark.usefixtures("bedrock_credentials")


@pytestmark_bedrock
async def test_titan_invokes_once_per_text_signed_with_the_documented_body():
    replay = Replay(body=raw("titan_v2_response.json"), headers=JSON)
    documented = fixture("titan_v2_request.json")
    texts = [documented["inputText"], "another", "third"]
    model = "amazon.titan-embed-text-v2:0"
    vectors, tokens = await replayed("bedrock", replay).embed(texts, model, 512, CallOptions())
    assert len(replay.requests) == 3
    sent = replay.requests[0]
    assert sent.url.host == "bedrock-runtime.us-east-1.amazonaws.com"
    assert sent.url.raw_path == b"/model/amazon.titan-embed-text-v2%3A0/invoke"
    assert sorted(json.loads(r.content)["inputText"] for r in replay.requests) == sorted(texts)
    assert json.loads(sent.content) in [{**documented, "inputText": t} for t in texts]
    assert_signature_covers_what_was_sent(sent)
    assert vectors == [[-0.0461, 0.0183, 0.0392, -0.0157]] * 3
    assert tokens == 30  # inputTextTokenCount, summed


@pytestmark_bedrock
async def test_titan_calls_run_side_by_side_but_bounded():
    import asyncio

    running, peak = 0, 0

    async def handler(request: httpx.Request) -> httpx.Response:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.01)
        running -= 1
        text = json.loads(request.content)["inputText"]
        return httpx.Response(200, json={"embedding": [float(text)], "inputTextTokenCount": 1})

    embedder = client("bedrock", httpx.MockTransport(handler))
    texts = [str(i) for i in range(30)]
    vectors, _ = await embedder.embed(texts, "amazon.titan-embed-text-v2:0", None, CallOptions())
    assert [v[0] for v in vectors] == [float(i) for i in range(30)]  # input order kept
    assert 1 < peak <= 8


@pytestmark_bedrock
async def test_cohere_sends_texts_as_search_documents_in_batches_of_96():
    bodies: list[dict[str, Any]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        bodies.append(body)
        return httpx.Response(200, json={"embeddings": [[float(t)] for t in body["texts"]]})

    embedder = client("bedrock", httpx.MockTransport(handler))
    texts = [str(i) for i in range(100)]
    vectors, _ = await embedder.embed(texts, "cohere.embed-english-v3", None, CallOptions())
    assert sorted(len(b["texts"]) for b in bodies) == [4, 96]
    assert all(b["input_type"] == "search_document" for b in bodies)
    assert [v[0] for v in vectors] == [float(i) for i in range(100)]


@pytestmark_bedrock
async def test_cohere_reads_the_documented_answer():
    replay = Replay(body=raw("cohere_response.json"), headers=JSON)
    documented = fixture("cohere_request.json")
    vectors, tokens = await replayed("bedrock", replay).embed(
        documented["texts"], "cohere.embed-multilingual-v3", None, CallOptions()
    )
    assert replay.sent_json() == documented
    assert replay.requests[0].url.raw_path == b"/model/cohere.embed-multilingual-v3/invoke"
    assert vectors[1] == [-0.0078, 0.0355, 0.0129] and tokens > 0


@pytestmark_bedrock
async def test_bedrock_throttling_is_rate_limited_from_the_error_type_header():
    replay = Replay(
        status=429,
        body=raw("bedrock_throttling.json"),
        headers={**JSON, "x-amzn-errortype": "ThrottlingException:http://internal.amazon.com/"},
    )
    with pytest.raises(RateLimited):
        await replayed("bedrock", replay).embed(
            ["x"], "amazon.titan-embed-text-v2:0", None, CallOptions()
        )


@pytestmark_bedrock
async def test_bedrock_refuses_a_model_it_has_no_mapping_for():
    replay = Replay(body=b"{}", headers=JSON)
    with pytest.raises(ProviderBadRequest):
        await replayed("bedrock", replay).embed(["x"], "meta.llama3", None, CallOptions())
    assert replay.requests == []


# --- shared ----------------------------------------------------------------------------


def test_base64_is_little_endian_float32_and_round_trips():
    import base64
    import struct

    encoded = float32_base64([1.0, -2.5])
    assert base64.b64decode(encoded) == struct.pack("<2f", 1.0, -2.5)
    assert float32_vector(encoded) == [1.0, -2.5]


def test_a_provider_without_embeddings_has_no_client():
    registry = build_registry(
        [ProviderConfig(name="anthropic", type="anthropic", api_key=KEY)], HttpClients()
    )
    assert registry.embedder("anthropic") is None
