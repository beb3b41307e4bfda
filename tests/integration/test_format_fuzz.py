"""Every inbound format, fuzzed: random JSON, and valid bodies with one part replaced by
random JSON, never get a 500, and every refusal is a 4xx in that format's own error shape.

The routes of Anthropic Messages and Gemini are not in ``/openapi.json`` (whose fuzz test
covers chat, Responses and embeddings), so this is their fuzzer; it runs all of them alike.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from orchestra.api.app import create_app
from orchestra.compose import build_services
from orchestra.config import Settings

pytestmark = pytest.mark.slow

KEY = "fuzz-key-0123456789"
GEMINI = "/v1beta/models/auto:generateContent"

#: path -> a valid body, and whether its error shape is right
VALID: dict[str, dict[str, Any]] = {
    "/v1/messages": {
        "model": "auto",
        "max_tokens": 64,
        "system": [{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}],
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "What is 2+2?"}]},
            {"role": "assistant", "content": "4"},
            {"role": "user", "content": "And 3+3?"},
        ],
        "tools": [{"name": "calc", "input_schema": {"type": "object", "properties": {}}}],
        "thinking": {"type": "enabled", "budget_tokens": 32},
        "stop_sequences": ["END"],
        "metadata": {"user_id": "u1"},
    },
    "/v1/messages/count_tokens": {
        "model": "auto",
        "messages": [{"role": "user", "content": "Count me"}],
    },
    "/v1/responses": {
        "model": "auto",
        "instructions": "Be brief.",
        "input": [{"role": "user", "content": [{"type": "input_text", "text": "Hi"}]}],
        "tools": [{"type": "function", "name": "calc", "parameters": {"type": "object"}}],
        "text": {"format": {"type": "json_object"}},
        "reasoning": {"effort": "low"},
        "store": False,
    },
    GEMINI: {
        "systemInstruction": {"parts": [{"text": "Be brief."}]},
        "contents": [{"role": "user", "parts": [{"text": "Hi"}]}],
        "tools": [{"functionDeclarations": [{"name": "calc", "parameters": {"type": "object"}}]}],
        "generationConfig": {"temperature": 0.2, "maxOutputTokens": 64},
    },
    "/v1/embeddings": {"model": "auto", "input": ["one", "two"]},
}


def anthropic_shape(body: Any) -> bool:
    error = body.get("error") if isinstance(body, dict) else None
    return body.get("type") == "error" and isinstance(error, dict) and "message" in error


def google_shape(body: Any) -> bool:
    error = body.get("error") if isinstance(body, dict) else None
    return isinstance(error, dict) and {"code", "message", "status"} <= set(error)


def openai_shape(body: Any) -> bool:
    error = body.get("error") if isinstance(body, dict) else None
    return isinstance(error, dict) and {"message", "type", "param", "code"} <= set(error)


def shape_of(path: str) -> Callable[[Any], bool]:
    if path.startswith("/v1/messages"):
        return anthropic_shape
    return google_shape if path.startswith("/v1beta/") else openai_shape


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=12,
)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            found += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += _paths(value, (*prefix, index))
    return found


@st.composite
def mutated(draw: st.DrawFn, path: str) -> Any:
    """A valid body with one value (or the whole body) replaced by random JSON."""
    body = copy.deepcopy(VALID[path])
    where = draw(st.sampled_from(_paths(body)))
    value = draw(JSON)
    if not where:
        return value
    parent = body
    for step in where[:-1]:
        parent = parent[step]
    parent[where[-1]] = value
    return body


@pytest.fixture(scope="module")
def client() -> TestClient:
    settings_ = Settings(api_keys=KEY, simulator_latency_scale=0.0)
    return TestClient(create_app(build_services(settings_, {})))


def _check(client: TestClient, path: str, body: Any) -> None:
    answer = client.post(path, content=json.dumps(body), headers={"x-api-key": KEY})
    assert answer.status_code < 500, (path, body, answer.text)
    if answer.status_code >= 400:
        assert shape_of(path)(answer.json()), (path, answer.text)


@pytest.mark.parametrize("path", sorted(VALID))
def test_the_valid_body_is_answered(client: TestClient, path: str) -> None:
    answer = client.post(path, json=VALID[path], headers={"x-api-key": KEY})
    assert answer.status_code == 200, answer.text


@pytest.mark.parametrize("path", sorted(VALID))
def test_mutated_bodies_never_get_a_500_and_errors_keep_the_formats_shape(
    client: TestClient, path: str
) -> None:
    @settings(
        max_examples=150,
        deadline=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(body=mutated(path))
    def run(body: Any) -> None:
        _check(client, path, body)

    run()
