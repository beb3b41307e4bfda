"""The official google-genai SDK against a real local Orchestra server: the simulator, and
fake Gemini and OpenAI-compatible upstreams on 127.0.0.1 replaying recorded payloads."""

from __future__ import annotations

import base64
import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from google import genai
from google.genai import errors, types

from orchestra.api.app import create_app
from orchestra.compose import build_services
from orchestra.config import Settings

from support.server import serve_in_thread
from support.upstream import FakeUpstream, Reply, running_in_thread

KEY = "orch-test-key-123"
UPSTREAM_KEYS = {"ALPHA_KEY": "AIza-alpha-0123456789abcdef", "BETA_KEY": "sk-beta-fedcba98765"}
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000001e221bc330000000049454e44ae426082"
)


def _client(url: str, key: str = KEY) -> genai.Client:
    options = types.HttpOptions(base_url=url, retry_options=types.HttpRetryOptions(attempts=1))
    return genai.Client(api_key=key, http_options=options)


@pytest.fixture(scope="module")
def gateway_url() -> Iterator[str]:
    settings = Settings(api_keys=KEY, simulator_latency_scale=0.0)
    app = create_app(build_services(settings, {}))
    with serve_in_thread(app) as url:
        yield url


@pytest.fixture
def client(gateway_url: str) -> genai.Client:
    return _client(gateway_url)


# --- the simulator -----------------------------------------------------------------------


def test_generate_content_answers_with_text_usage_and_the_routed_model(client):
    response = client.models.generate_content(model="auto", contents="What is 6*7?")
    assert response.text
    assert response.model_version and response.model_version.startswith("simulator/")
    assert response.candidates[0].finish_reason == types.FinishReason.STOP
    usage = response.usage_metadata
    assert usage.prompt_token_count > 0 and usage.candidates_token_count > 0
    assert usage.total_token_count == usage.prompt_token_count + usage.candidates_token_count


def test_generate_content_stream_sends_text_then_finish_and_usage(client):
    chunks = list(
        client.models.generate_content_stream(
            model="auto:budget", contents="What is the capital of France?"
        )
    )
    text = "".join(c.text or "" for c in chunks)
    assert text.startswith("The answer is")
    assert len(chunks) > 2
    assert chunks[-1].candidates[0].finish_reason == types.FinishReason.STOP
    assert chunks[-1].usage_metadata.candidates_token_count > 0


def test_system_instruction_and_an_inline_image_are_accepted(client):
    response = client.models.generate_content(
        model="auto",
        contents=[
            types.Part.from_bytes(data=PNG, mime_type="image/png"),
            "What is in this image?",
        ],
        config=types.GenerateContentConfig(
            system_instruction="Answer in one word.", temperature=0.1, max_output_tokens=64
        ),
    )
    assert response.text


def test_bad_input_is_a_client_error_naming_the_field(client):
    with pytest.raises(errors.ClientError) as info:
        client.models.generate_content(
            model="auto",
            contents="hi",
            config=types.GenerateContentConfig(candidate_count=2),
        )
    assert info.value.code == 400 and info.value.status == "INVALID_ARGUMENT"
    assert "generationConfig.candidateCount" in info.value.message
    with pytest.raises(errors.ClientError) as tools:
        client.models.generate_content(
            model="auto",
            contents="hi",
            config=types.GenerateContentConfig(
                tools=[types.Tool(google_search=types.GoogleSearch())]
            ),
        )
    assert tools.value.code == 400 and "tools[0].googleSearch" in tools.value.message


def test_wrong_key_and_unknown_model_are_client_errors(gateway_url, client):
    wrong = _client(gateway_url, "wrong")
    with pytest.raises(errors.ClientError) as auth:
        wrong.models.generate_content(model="auto", contents="x")
    assert auth.value.code == 401 and auth.value.status == "UNAUTHENTICATED"
    with pytest.raises(errors.ClientError) as missing:
        client.models.generate_content(model="no-such-model", contents="x")
    assert missing.value.code == 404 and missing.value.status == "NOT_FOUND"


def test_rest_clients_key_query_json_array_stream_and_unknown_method(gateway_url):
    body = {"contents": [{"role": "user", "parts": [{"text": "hello"}]}]}
    base = f"{gateway_url}/v1beta/models"
    # Given the key in the query string and no alt: a JSON array, sent as it grows
    with httpx.stream("POST", f"{base}/auto:streamGenerateContent?key={KEY}", json=body) as reply:
        assert reply.headers["content-type"].startswith("application/json")
        raw = b"".join(reply.iter_raw())
    items = json.loads(raw)
    assert isinstance(items, list) and items[-1]["candidates"][0]["finishReason"] == "STOP"
    # And an unknown method is Google's 404, an unknown query parameter a 400
    unknown = httpx.post(f"{base}/auto:embedContent?key={KEY}", json=body)
    assert unknown.status_code == 404 and unknown.json()["error"]["status"] == "NOT_FOUND"
    extra = httpx.post(f"{base}/auto:generateContent?key={KEY}&debug=1", json=body)
    assert extra.status_code == 400 and "debug" in extra.json()["error"]["message"]
    counted = httpx.post(f"{base}/auto:countTokens?key={KEY}", json=body)
    assert counted.status_code == 200 and counted.json()["totalTokens"] > 0


# --- fake upstreams ----------------------------------------------------------------------


def _provider(name: str, kind: str, url: str, model: str, quality: int) -> dict[str, Any]:
    return {
        "name": name,
        "type": kind,
        "base_url": f"{url}/v1beta" if kind == "gemini" else f"{url}/v1",
        "api_key_env": f"{name.upper()}_KEY",
        "models": [
            {
                "id": model,
                "context_window": 128000,
                "quality": quality,
                "capabilities": ["tools", "vision", "streaming", "json"],
            }
        ],
    }


@contextlib.contextmanager
def _gateway(tmp_path: Path, *providers: dict[str, Any]) -> Iterator[genai.Client]:
    path = tmp_path / "orchestra.yaml"
    path.write_text(json.dumps({"providers": list(providers)}))
    settings = Settings(
        api_keys=KEY, config=str(path), attempts_per_model=1, request_deadline_s=10.0
    )
    services = build_services(settings, UPSTREAM_KEYS)
    with serve_in_thread(create_app(services)) as url:
        yield _client(url)


@pytest.fixture
def alpha() -> Iterator[FakeUpstream]:
    with running_in_thread(FakeUpstream()) as fake:
        yield fake


@pytest.fixture
def beta() -> Iterator[FakeUpstream]:
    with running_in_thread(FakeUpstream()) as fake:
        yield fake


TOOLS = types.GenerateContentConfig(
    tools=[
        types.Tool(
            function_declarations=[
                types.FunctionDeclaration(
                    name="generate_topic",
                    description="A topic to write about",
                    parameters=types.Schema(type=types.Type.OBJECT, properties={}),
                )
            ]
        )
    ]
)


def _answered(
    contents: list[types.Content], calls: list[types.FunctionCall]
) -> list[types.Content]:
    responses = [
        types.Part(
            function_response=types.FunctionResponse(
                id=c.id, name=c.name, response={"topic": "owls"}
            )
        )
        for c in calls
    ]
    return [*contents, types.Content(role="user", parts=responses)]


def test_function_calls_round_trip_with_a_gemini_upstream(tmp_path, alpha, recorded):
    # Given a Gemini upstream answering with recorded function calls, then with text
    recorded_calls = recorded.json("gemini/generate_content_function_calls.json")
    alpha.enqueue(
        Reply.json(recorded_calls), Reply.json(recorded.json("gemini/generate_content.json"))
    )
    signature = recorded_calls["candidates"][0]["content"]["parts"][0]["thoughtSignature"]
    model = "alpha/gemini-3-flash-preview"
    with _gateway(
        tmp_path, _provider("alpha", "gemini", alpha.base_url, "gemini-3-flash-preview", 1400)
    ) as client:
        # When the client asks, gets the calls, and sends their results back
        first = client.models.generate_content(model=model, contents="Pick topics", config=TOOLS)
        calls = first.function_calls or []
        history = [
            types.Content(role="user", parts=[types.Part(text="Pick topics")]),
            first.candidates[0].content,
        ]
        second = client.models.generate_content(
            model=model, contents=_answered(history, calls), config=TOOLS
        )
    # Then the calls came back whole and the upstream saw its signature and the results
    assert [c.name for c in calls] == ["generate_topic"] * 3 and all(c.args == {} for c in calls)
    assert second.text == "Hello! How can I help you today?"
    sent = alpha.requests[1]["body"]["contents"]
    # (google-genai keeps signatures as bytes and sends them back base64url-encoded)
    signed = [p["thoughtSignature"] for p in sent[1]["parts"] if "thoughtSignature" in p]
    assert [base64.urlsafe_b64decode(s) for s in signed] == [base64.b64decode(signature)]
    results = [p for p in sent[-1]["parts"] if "functionResponse" in p]
    assert [p["functionResponse"]["name"] for p in results] == ["generate_topic"] * 3
    assert alpha.requests[0]["headers"]["x-goog-api-key"] == UPSTREAM_KEYS["ALPHA_KEY"]


def test_function_calls_round_trip_with_an_openai_upstream(tmp_path, beta, recorded):
    # Given an OpenAI-compatible upstream answering with recorded tool calls, then with text
    beta.enqueue(
        Reply.json(recorded.json("openai/chat_completion_tool_calls.json")),
        Reply.json(recorded.json("openai/chat_completion_basic.json")),
    )
    files = types.GenerateContentConfig(
        tools=[
            types.Tool(
                function_declarations=[
                    types.FunctionDeclaration(
                        name=name,
                        parameters=types.Schema(
                            type=types.Type.OBJECT,
                            properties={"path": types.Schema(type=types.Type.STRING)},
                            required=["path"],
                        ),
                    )
                    for name in ("delete_file", "create_file")
                ]
            )
        ],
        tool_config=types.ToolConfig(
            function_calling_config=types.FunctionCallingConfig(
                mode=types.FunctionCallingConfigMode.ANY
            )
        ),
    )
    with _gateway(tmp_path, _provider("beta", "openai", beta.base_url, "m1", 1300)) as client:
        # When a Gemini client asks, gets the calls and answers them
        first = client.models.generate_content(model="beta/m1", contents="Tidy up", config=files)
        calls = first.function_calls or []
        history = [
            types.Content(role="user", parts=[types.Part(text="Tidy up")]),
            first.candidates[0].content,
        ]
        second = client.models.generate_content(
            model="beta/m1", contents=_answered(history, calls), config=files
        )
    # Then the OpenAI calls read as Gemini function calls, and the results as tool messages
    assert [(c.name, c.args) for c in calls] == [
        ("delete_file", {"path": ".env"}),
        ("create_file", {"path": "test.txt"}),
    ]
    assert second.text == "Hello! How can I assist you today?"
    asked = beta.requests[0]["body"]
    assert asked["tool_choice"] == "required"
    assert asked["tools"][0]["function"]["parameters"]["properties"] == {"path": {"type": "string"}}
    tool_messages = [m for m in beta.requests[1]["body"]["messages"] if m["role"] == "tool"]
    assert [m["tool_call_id"] for m in tool_messages] == [
        "call_jYdIdRZHxZTn5bWCq5jlMrJi",
        "call_TmlTVWQbzrXCZ4jNsCVNbNqu",
    ]


@pytest.mark.parametrize(
    ("fixture", "status"),
    [("gemini/error_429_resource_exhausted.json", 429), ("gemini/error_503_unavailable.json", 503)],
)
def test_an_exhausted_or_overloaded_upstream_is_a_503_server_error(
    tmp_path, alpha, recorded, fixture, status
):
    alpha.default = Reply.json(recorded.bytes(fixture), status=status)
    with (
        _gateway(
            tmp_path, _provider("alpha", "gemini", alpha.base_url, "gemini-2.5-flash", 1400)
        ) as client,
        pytest.raises(errors.ServerError) as info,
    ):
        client.models.generate_content(model="alpha/gemini-2.5-flash", contents="hi")
    assert info.value.code == 503 and info.value.status == "UNAVAILABLE"
    assert UPSTREAM_KEYS["ALPHA_KEY"] not in str(info.value)


@pytest.mark.parametrize("stream", [False, True])
def test_a_failing_upstream_falls_back_to_a_healthy_one(tmp_path, alpha, beta, recorded, stream):
    # Given the preferred Gemini upstream is overloaded and an OpenAI one is healthy
    alpha.default = Reply.json(recorded.bytes("gemini/error_503_unavailable.json"), status=503)
    if stream:
        beta.enqueue(Reply.sse(recorded.bytes("openai/chat_completion_stream_include_usage.sse")))
    else:
        beta.enqueue(Reply.json(recorded.json("openai/chat_completion_basic.json")))
    providers = (
        _provider("alpha", "gemini", alpha.base_url, "gemini-2.5-flash", 1400),
        _provider("beta", "openai", beta.base_url, "m1", 1300),
    )
    with _gateway(tmp_path, *providers) as client:
        # When a Gemini client asks for the best model
        if stream:
            chunks = list(
                client.models.generate_content_stream(model="auto:quality", contents="hi")
            )
            text = "".join(c.text or "" for c in chunks)
            version = chunks[-1].model_version
        else:
            response = client.models.generate_content(model="auto:quality", contents="hi")
            text, version = response.text or "", response.model_version
    # Then alpha was tried first and beta answered
    assert len(alpha.requests) == 1 and len(beta.requests) == 1
    assert text and version == "beta/m1"
