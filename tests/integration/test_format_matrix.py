"""Every client's format against every provider's: 4 inbound x 4 outbound x (text, stream,
tools, errors), each through the vendor's real SDK and a real local gateway.

Inbound: OpenAI chat completions and Responses (``openai``), Anthropic Messages
(``anthropic``), Gemini generateContent (``google-genai``). Outbound: fake upstreams of each
provider type (OpenAI-compatible, Anthropic, Gemini, Bedrock) replaying recorded payloads
from ``shared/fixtures``. What the client must see is what the gateway's own adapter reads
from the recording (replayed through it directly), so a translation that loses or bends
anything on the way out to a client fails here.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anthropic
import httpx
import openai
import pytest
from google import genai
from google.genai import errors as genai_errors
from google.genai import types as genai_types

from orchestra.api.app import create_app
from orchestra.compose import build_services
from orchestra.config import Settings
from orchestra.providers.base import CallOptions, ProviderConfig
from orchestra.providers.registry import instantiate
from orchestra.schemas.chat import ChatRequest, ChatResponse

from support.replay import Replay, collect, text_of
from support.server import serve_in_thread
from support.upstream import FakeUpstream, Reply, running_in_thread

pytestmark = pytest.mark.slow

FIXTURES = Path(
    os.environ.get("ORCHESTRA_FIXTURES") or Path(__file__).resolve().parents[3] / "shared/fixtures"
)
KEY = "orch-matrix-key-0123456789"
TOOL = {
    "name": "lookup",
    "description": "Look something up",
    "parameters": {"type": "object", "properties": {"q": {"type": "string"}}},
}
EVENTSTREAM = {"content-type": "application/vnd.amazon.eventstream"}


@dataclass(frozen=True)
class Outbound:
    """One provider type: its configured name, model, and recorded answers per case."""

    type: str
    name: str
    model: str
    text: str
    stream: str
    tools: str
    error: str
    error_status: int
    stream_headers: dict[str, str] | None = None

    def raw(self, case: str) -> bytes:
        return (FIXTURES / getattr(self, case)).read_bytes()

    def reply(self, case: str) -> Reply:
        if case == "stream":
            if self.stream_headers is not None:
                return Reply(chunks=[self.raw(case)], headers=self.stream_headers)
            return Reply.sse(self.raw(case))
        if case == "error":
            return Reply.json(self.raw(case), status=self.error_status)
        return Reply.json(self.raw(case))


OUTBOUND = [
    Outbound(
        "openai", "oai", "alpha-1",
        "openai/chat_completion_basic.json",
        "openai/chat_completion_stream_include_usage.sse",
        "openai/chat_completion_tool_calls.json",
        "openai/error_400_unsupported_value.json", 400,
    ),
    Outbound(
        "anthropic", "ant", "bravo-1",
        "anthropic/messages_basic.json",
        "anthropic/messages_stream_text.sse",
        "anthropic/messages_tool_use.json",
        "anthropic/error_400_invalid_request_error.json", 400,
    ),
    Outbound(
        "gemini", "gem", "charlie-1",
        "gemini/generate_content.json",
        "gemini/stream_generate_content_alt_sse.sse",
        "gemini/generate_content_function_calls.json",
        "gemini/error_400_invalid_argument_vertex.json", 400,
    ),
    Outbound(
        "bedrock", "bed", "delta-1",
        "bedrock/converse.json",
        "bedrock/converse_stream.eventstream.bin",
        "bedrock/converse_tool_use.json",
        # Bedrock's 400 "invalid model identifier" means this model cannot be served here:
        # the gateway falls back, and with no other candidate answers 502
        "bedrock/error_400_invalid_model.json", 502,
        stream_headers=EVENTSTREAM,
    ),
]  # fmt: skip


def _config(path: Path, urls: dict[str, str]) -> Path:
    def entry(out: Outbound) -> dict[str, Any]:
        base = urls[out.name]
        entry: dict[str, Any] = {
            "name": out.name,
            "type": out.type,
            "base_url": {"openai": f"{base}/v1", "gemini": f"{base}/v1beta"}.get(out.type, base),
            "allow_private": True,
            "models": [
                {
                    "id": out.model,
                    "context_window": 128000,
                    "quality": 1300,
                    "capabilities": ["streaming", "tools", "vision", "json"],
                }
            ],
        }
        if out.type == "bedrock":
            entry["region"] = "us-east-1"
        else:
            entry["api_key_env"] = f"{out.name.upper()}_KEY"
        return entry

    path.write_text(json.dumps({"providers": [entry(o) for o in OUTBOUND]}))
    return path


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, Any]]]:
    with contextlib.ExitStack() as running:
        upstreams = {
            o.name: running.enter_context(running_in_thread(FakeUpstream())) for o in OUTBOUND
        }
        urls = {name: upstream.base_url for name, upstream in upstreams.items()}
        config = _config(tmp_path_factory.mktemp("matrix") / "orchestra.yaml", urls)
        settings = Settings(api_keys=KEY, config=str(config), request_deadline_s=10.0)
        keys = {f"{o.name.upper()}_KEY": f"sk-{o.name}-secret-0123456789" for o in OUTBOUND}
        app = create_app(build_services(settings, keys))
        with serve_in_thread(app) as gateway:
            yield gateway, upstreams


@pytest.fixture(autouse=True, scope="module")
def _aws_credentials() -> Iterator[None]:
    patch = pytest.MonkeyPatch()
    patch.setenv("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE")
    patch.setenv("AWS_SECRET_ACCESS_KEY", "matrix/secret/EXAMPLEKEY")
    patch.delenv("AWS_SESSION_TOKEN", raising=False)
    yield
    patch.undo()


# --- what the gateway itself reads from each recording (the expected answer) ----------


def _adapter_view(out: Outbound, case: str) -> ChatResponse | list[Any]:
    replay = Replay(body=out.raw(case), headers=(out.stream_headers or {}), piece=97)
    config = ProviderConfig(
        name=out.name, type=out.type, base_url="https://vendor.example", api_key="k",  # type: ignore[arg-type]
        region="us-east-1",
    )  # fmt: skip
    provider = instantiate(config, replay.clients())
    request = ChatRequest(model=out.model, messages=[{"role": "user", "content": "hi"}])  # type: ignore[list-item]
    if case == "stream":
        if out.stream_headers is None:
            replay.headers = {"content-type": "text/event-stream"}
        return asyncio.run(collect(provider.stream(request, out.model, CallOptions(timeout=5))))
    return asyncio.run(provider.complete(request, out.model, CallOptions(timeout=5)))


def expected_text(out: Outbound, case: str) -> str:
    view = _adapter_view(out, case)
    return text_of(view) if isinstance(view, list) else view.text()


def expected_call(out: Outbound) -> tuple[str, dict[str, Any]]:
    view = _adapter_view(out, "tools")
    assert isinstance(view, ChatResponse)
    call = (view.choices[0].message.tool_calls or [])[0]
    return call.function.name, json.loads(call.function.arguments or "{}")


# --- the four clients ----------------------------------------------------------------


def chat_client(gateway: str) -> Any:
    return openai.OpenAI(base_url=f"{gateway}/v1", api_key=KEY, max_retries=0)


def anthropic_client(gateway: str) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=gateway, api_key=KEY, max_retries=0)


def gemini_client(gateway: str) -> genai.Client:
    options = genai_types.HttpOptions(base_url=gateway, retry_options=None)
    return genai.Client(api_key=KEY, http_options=options)


USER = "Look up the weather"


def via_chat(gateway: str, model: str, case: str) -> Any:
    client = chat_client(gateway)
    messages = [{"role": "user", "content": USER}]
    if case == "stream":
        chunks = client.chat.completions.create(model=model, messages=messages, stream=True)
        return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    tools = [{"type": "function", "function": TOOL}] if case == "tools" else openai.omit
    answer = client.chat.completions.create(model=model, messages=messages, tools=tools)
    if case == "tools":
        call = (answer.choices[0].message.tool_calls or [])[0]
        return call.function.name, json.loads(call.function.arguments or "{}")
    return answer.choices[0].message.content or ""


def via_responses(gateway: str, model: str, case: str) -> Any:
    client = chat_client(gateway)
    if case == "stream":
        text = []
        with client.responses.stream(model=model, input=USER) as stream:
            for event in stream:
                if event.type == "response.output_text.delta":
                    text.append(event.delta)
        return "".join(text)
    tools: Any = [{"type": "function", "strict": False, **TOOL}] if case == "tools" else openai.omit
    answer = client.responses.create(model=model, input=USER, tools=tools)
    if case == "tools":
        call = next(item for item in answer.output if item.type == "function_call")
        return call.name, json.loads(call.arguments or "{}")
    return answer.output_text


def via_anthropic(gateway: str, model: str, case: str) -> Any:
    client = anthropic_client(gateway)
    messages: Any = [{"role": "user", "content": USER}]
    if case == "stream":
        with client.messages.stream(model=model, max_tokens=256, messages=messages) as stream:
            return "".join(stream.text_stream)
    tools: Any = (
        [
            {
                "name": TOOL["name"],
                "description": TOOL["description"],
                "input_schema": TOOL["parameters"],
            }
        ]
        if case == "tools"
        else anthropic.omit
    )
    answer = client.messages.create(model=model, max_tokens=256, messages=messages, tools=tools)
    if case == "tools":
        use = next(block for block in answer.content if block.type == "tool_use")
        return use.name, dict(use.input)  # type: ignore[call-overload]
    return "".join(block.text for block in answer.content if block.type == "text")


def via_gemini(gateway: str, model: str, case: str) -> Any:
    client = gemini_client(gateway)
    if case == "stream":
        chunks = client.models.generate_content_stream(model=model, contents=USER)
        return "".join(chunk.text or "" for chunk in chunks)
    config = None
    if case == "tools":
        declaration = genai_types.FunctionDeclaration(
            name=TOOL["name"], description=TOOL["description"],
            parameters_json_schema=TOOL["parameters"],
        )  # fmt: skip
        config = genai_types.GenerateContentConfig(
            tools=[genai_types.Tool(function_declarations=[declaration])]
        )
    answer = client.models.generate_content(model=model, contents=USER, config=config)
    if case == "tools":
        call = (answer.function_calls or [])[0]
        return call.name, dict(call.args or {})
    return answer.text or ""


def status_of(error: BaseException) -> int | None:
    if isinstance(error, openai.APIStatusError | anthropic.APIStatusError):
        return error.status_code
    if isinstance(error, genai_errors.APIError):
        return error.code
    return None


INBOUND: dict[str, Callable[[str, str, str], Any]] = {
    "chat": via_chat,
    "responses": via_responses,
    "anthropic": via_anthropic,
    "gemini": via_gemini,
}
SDK_ERRORS = (openai.APIStatusError, anthropic.APIStatusError, genai_errors.APIError)


@pytest.mark.parametrize("case", ["text", "stream", "tools", "error"])
@pytest.mark.parametrize("out", OUTBOUND, ids=[o.type for o in OUTBOUND])
@pytest.mark.parametrize("inbound", sorted(INBOUND))
def test_every_client_format_through_every_provider_format(stack, inbound, out, case):
    gateway, upstreams = stack
    # Given: the provider's upstream scripted with its recorded answer for this case
    upstream = upstreams[out.name]
    upstream.script.clear()
    upstream.enqueue(out.reply(case))
    call = INBOUND[inbound]
    if case == "error":
        # When: the vendor refuses the request; Then: the client's SDK raises its own
        # error type with the vendor's status, and nothing was tried elsewhere
        with pytest.raises(SDK_ERRORS) as raised:
            call(gateway, out.model, case)
        assert status_of(raised.value) == out.error_status
        return
    # When: the client asks in its own format
    seen = call(gateway, out.model, case)
    # Then: it sees exactly what the gateway read from the vendor's answer
    if case == "tools":
        assert seen == expected_call(out)
    else:
        expected = expected_text(out, case)
        assert expected and seen == expected
    assert upstream.requests, "the request reached the provider"


RAW_REQUESTS: dict[str, Callable[[str], tuple[str, dict[str, Any]]]] = {
    "chat": lambda m: (
        "/v1/chat/completions",
        {"model": m, "messages": [{"role": "user", "content": USER}]},
    ),
    "responses": lambda m: ("/v1/responses", {"model": m, "input": USER, "store": False}),
    "anthropic": lambda m: (
        "/v1/messages",
        {"model": m, "max_tokens": 256, "messages": [{"role": "user", "content": USER}]},
    ),
    "gemini": lambda m: (
        f"/v1beta/models/{m}:generateContent",
        {"contents": [{"role": "user", "parts": [{"text": USER}]}]},
    ),
}


@pytest.mark.parametrize("out", OUTBOUND, ids=[o.type for o in OUTBOUND])
def test_cost_and_routing_headers_are_the_same_in_every_format(stack, out):
    gateway, upstreams = stack
    upstream = upstreams[out.name]
    upstream.script.clear()
    seen: dict[str, dict[str, str]] = {}
    for inbound, build in RAW_REQUESTS.items():
        # Given: the same recorded answer behind every format
        upstream.enqueue(out.reply("text"))
        path, body = build(out.model)
        # When: each client format asks for it
        answer = httpx.post(gateway + path, json=body, headers={"x-api-key": KEY}, timeout=10)
        assert answer.status_code == 200, (inbound, answer.text)
        seen[inbound] = {
            name: answer.headers[name]
            for name in ("x-orchestra-model", "x-orchestra-provider", "x-orchestra-cost-usd")
        }
        route = json.loads(answer.headers["x-orchestra-route"])
        assert route["chosen"] == f"{out.name}/{out.model}"
    # Then: who answered and what it cost read the same whatever the client's format
    assert all(headers == seen["chat"] for headers in seen.values()), seen
