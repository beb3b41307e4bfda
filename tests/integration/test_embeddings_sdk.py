"""``POST /v1/embeddings`` through the official openai SDK against a real local server:
the simulator's ``sim-embed`` (floats and the SDK's default base64), then OpenAI-compatible,
Gemini and Bedrock (Titan, Cohere) upstreams played by one fake server on 127.0.0.1."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

from orchestra.api.app import create_app
from orchestra.compose import build_services
from orchestra.config import Settings

from support.server import serve_in_thread
from support.upstream import FakeUpstream, Reply, running_in_thread

KEY = "orch-test-key-123"
OPENAI_KEY = "sk-openai-embed-0123456789"
GEMINI_KEY = "gm-embed-key-0123456789"


# --- the simulator ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def simulated() -> Iterator[openai.OpenAI]:
    app = create_app(build_services(Settings(api_keys=KEY, simulator_latency_scale=0.0), {}))
    with serve_in_thread(app) as url:
        yield openai.OpenAI(base_url=f"{url}/v1", api_key=KEY, max_retries=0)


def cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


def test_sdk_gets_float_vectors_from_sim_embed(simulated):
    texts = ["reset my password", "how do I reset a password", "quarterly revenue grew"]
    result = simulated.embeddings.create(model="auto", input=texts, encoding_format="float")
    assert result.object == "list" and result.model == "simulator/sim-embed"
    assert [d.index for d in result.data] == [0, 1, 2]
    vectors = [d.embedding for d in result.data]
    assert all(len(v) == 256 and math.isclose(math.sqrt(cosine(v, v)), 1.0) for v in vectors)
    assert cosine(vectors[0], vectors[1]) > cosine(vectors[0], vectors[2])
    assert (
        result.usage.prompt_tokens > 0 and result.usage.total_tokens == result.usage.prompt_tokens
    )


def test_sdk_default_base64_decodes_to_the_same_vectors(simulated):
    as_float = simulated.embeddings.create(
        model="sim-embed", input="hello", encoding_format="float"
    )
    default = simulated.embeddings.create(model="sim-embed", input="hello")  # base64 on the wire
    assert default.data[0].embedding == pytest.approx(as_float.data[0].embedding, abs=1e-6)


def test_sdk_dimensions_and_the_embedding_space_headers(simulated):
    raw = simulated.embeddings.with_raw_response.create(
        model="simulator/sim-embed", input=["a b c"], dimensions=64
    )
    assert len(raw.parse().data[0].embedding) == 64
    assert raw.headers["x-orchestra-embedding-space"] == "simulator/sim-embed"
    assert raw.headers["x-orchestra-model"] == "simulator/sim-embed"
    assert raw.headers["x-orchestra-provider"] == "simulator"
    assert raw.headers["x-orchestra-attempts"].startswith("simulator/sim-embed=ok")
    assert float(raw.headers["x-orchestra-cost-usd"]) >= 0
    assert "x-orchestra-fallback" not in raw.headers


@pytest.mark.parametrize(
    ("kwargs", "param"),
    [
        ({"model": "simulator/sim-large", "input": "x"}, "model"),
        ({"model": "auto", "input": [[1, 2, 3]]}, "input"),
        ({"model": "auto", "input": [1, 2, 3]}, "input"),
        ({"model": "auto", "input": ["ok", ""]}, "input"),
        ({"model": "auto", "input": []}, "input"),
        ({"model": "auto", "input": ["x"] * 2049}, "input"),
        ({"model": "sim-embed", "input": "x", "dimensions": 1024}, "dimensions"),
    ],
)
def test_sdk_sees_400s_naming_the_field(simulated, kwargs, param):
    with pytest.raises(openai.BadRequestError) as info:
        simulated.embeddings.create(encoding_format="float", **kwargs)
    assert info.value.param == param


def test_sdk_chat_with_an_embedding_model_is_a_400_naming_model(simulated):
    with pytest.raises(openai.BadRequestError) as info:
        simulated.chat.completions.create(
            model="sim-embed", messages=[{"role": "user", "content": "hi"}]
        )
    assert info.value.param == "model"


def test_embedding_models_are_listed_with_their_capability(simulated):
    listed = {m.id: m for m in simulated.models.list()}
    assert "embeddings" in (listed["simulator/sim-embed"].model_extra or {})["capabilities"]


# --- vendors' wire formats, played by a fake upstream ------------------------------------


def _respond(seen: dict[str, Any]) -> Reply:
    path, body = seen["path"], seen["body"]
    if path == "/v1/embeddings":
        data = [
            {"object": "embedding", "index": i, "embedding": [float(i), 0.5]}
            for i in range(len(body["input"]))
        ]
        return Reply.json({"object": "list", "data": data, "usage": {"prompt_tokens": 11}})
    if path.endswith(":batchEmbedContents"):
        return Reply.json({"embeddings": [{"values": [3.0, 4.0]} for _ in body["requests"]]})
    if "titan-embed" in path:
        return Reply.json({"embedding": [0.6, 0.8], "inputTextTokenCount": 4})
    if "cohere.embed" in path:
        return Reply.json(
            {
                "embeddings": [[1.0, 0.0] for _ in body["texts"]],
                "response_type": "embeddings_floats",
            }
        )
    return Reply.json({"error": {"message": f"no route {path}"}}, status=404)


@pytest.fixture(scope="module")
def upstream() -> Iterator[FakeUpstream]:
    with running_in_thread(FakeUpstream(responder=_respond)) as fake:
        yield fake


@pytest.fixture(scope="module")
def vendors(
    upstream: FakeUpstream, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[openai.OpenAI]:
    base = upstream.base_url
    providers = [
        {"name": "openai", "type": "openai", "base_url": f"{base}/v1", "api_key_env": "OA_KEY"},
        {"name": "gemini", "type": "gemini", "base_url": f"{base}/v1beta", "api_key_env": "GM_KEY"},
        {"name": "bedrock", "type": "bedrock", "base_url": base, "region": "us-east-1"},
    ]
    path = Path(tmp_path_factory.mktemp("embeddings")) / "orchestra.yaml"
    path.write_text(json.dumps({"providers": providers}))
    settings = Settings(api_keys=KEY, config=str(path), breaker_failures=50)
    services = build_services(settings, {"OA_KEY": OPENAI_KEY, "GM_KEY": GEMINI_KEY})
    with serve_in_thread(create_app(services)) as url:
        yield openai.OpenAI(base_url=f"{url}/v1", api_key=KEY, max_retries=0)


def _last(upstream: FakeUpstream) -> dict[str, Any]:
    return upstream.requests[-1]


def test_openai_compatible_upstream_by_its_upstream_name(vendors, upstream):
    raw = vendors.embeddings.with_raw_response.create(
        model="text-embedding-3-small", input=["one", "two"], dimensions=2
    )
    result = raw.parse()
    sent = _last(upstream)
    assert sent["path"] == "/v1/embeddings"
    assert sent["headers"]["authorization"] == f"Bearer {OPENAI_KEY}"
    assert sent["body"] == {
        "model": "text-embedding-3-small",
        "input": ["one", "two"],
        "encoding_format": "float",
        "dimensions": 2,
    }
    assert [d.embedding for d in result.data] == [[0.0, 0.5], [1.0, 0.5]]
    assert result.usage.prompt_tokens == 11
    assert raw.headers["x-orchestra-embedding-space"] == "openai/text-embedding-3-small"
    assert float(raw.headers["x-orchestra-cost-usd"]) == pytest.approx(11 * 2e-8)
    assert OPENAI_KEY not in raw.text and OPENAI_KEY not in json.dumps(dict(raw.headers))


def test_gemini_upstream_batch_embeds(vendors, upstream):
    result = vendors.embeddings.create(
        model="gemini/gemini-embedding-001", input=["a", "b"], dimensions=2
    )
    sent = _last(upstream)
    assert sent["path"] == "/v1beta/models/gemini-embedding-001:batchEmbedContents"
    assert sent["headers"]["x-goog-api-key"] == GEMINI_KEY
    assert [r["outputDimensionality"] for r in sent["body"]["requests"]] == [2, 2]
    assert result.data[1].embedding == pytest.approx([0.6, 0.8])  # normalised when shortened


def test_bedrock_titan_one_signed_call_per_text(vendors, upstream):
    before = len(upstream.requests)
    result = vendors.embeddings.create(model="amazon.titan-embed-text-v2:0", input=["a", "b", "c"])
    calls = upstream.requests[before:]
    assert len(calls) == 3 and {c["body"]["inputText"] for c in calls} == {"a", "b", "c"}
    assert all(c["headers"]["authorization"].startswith("AWS4-HMAC-SHA256") for c in calls)
    assert (
        result.model == "bedrock/amazon.titan-embed-text-v2:0" and result.usage.prompt_tokens == 12
    )


def test_bedrock_cohere(vendors, upstream):
    result = vendors.embeddings.create(model="cohere.embed-english-v3", input=["a", "b"])
    assert _last(upstream)["body"] == {"texts": ["a", "b"], "input_type": "search_document"}
    assert [d.embedding for d in result.data] == [[1.0, 0.0], [1.0, 0.0]]


def test_dimensions_on_a_fixed_size_model_is_a_400(vendors):
    with pytest.raises(openai.BadRequestError) as info:
        vendors.embeddings.create(model="cohere.embed-english-v3", input="x", dimensions=256)
    assert info.value.param == "dimensions"


def test_auto_is_the_cheapest_configured_embedding_model(vendors):
    result = vendors.embeddings.create(model="auto", input="x")
    assert result.model in {"openai/text-embedding-3-small", "bedrock/amazon.titan-embed-text-v2:0"}


def test_a_failing_model_does_not_fall_back_unless_fallbacks_are_listed(vendors, upstream):
    # Given the OpenAI upstream failing (both tries of the same model)
    upstream.enqueue(*[Reply.json({"error": {"message": "boom"}}, status=500)] * 2)
    # When no fallback is listed, Then the caller gets the failure (no other model's vectors)
    with pytest.raises(openai.APIStatusError) as info:
        vendors.embeddings.create(model="text-embedding-3-small", input="x")
    assert info.value.status_code == 502
    # When the caller lists an equivalent model, Then it answers and the headers say so
    upstream.enqueue(*[Reply.json({"error": {"message": "boom"}}, status=500)] * 2)
    raw = vendors.embeddings.with_raw_response.create(
        model="text-embedding-3-small",
        input="x",
        extra_body={"fallbacks": ["gemini-embedding-001"]},
    )
    assert raw.headers["x-orchestra-embedding-space"] == "gemini/gemini-embedding-001"
    assert raw.headers["x-orchestra-fallback"] == (
        "openai/text-embedding-3-small -> gemini/gemini-embedding-001"
    )
    assert raw.parse().model == "gemini/gemini-embedding-001"
