"""Bad input gets a clear 4xx in OpenAI's error shape; nothing ever answers a bare 500."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orchestra.api.app import create_app
from orchestra.compose import build_services
from orchestra.config import Settings

KEY = "client-key-0123456789"
AUTH = {"Authorization": f"Bearer {KEY}"}
GOOD = {"model": "auto", "messages": [{"role": "user", "content": "hi"}]}


def _app(**overrides: Any) -> Any:
    config = Settings(api_keys=KEY, simulator_latency_scale=0.0, **overrides)
    return create_app(build_services(config, {}))


@pytest.fixture
async def client():
    transport = httpx.ASGITransport(app=_app(max_body_bytes=4096))
    async with httpx.AsyncClient(transport=transport, base_url="http://gw") as c:
        yield c


def _assert_openai_error(response: httpx.Response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"message", "type", "param", "code"}
    assert body["error"]["message"]
    if code is not None:
        assert body["error"]["code"] == code
    return body["error"]


@pytest.mark.parametrize(
    ("payload", "status", "code"),
    [
        (b"{not json", 400, "invalid_json"),
        (b"", 400, None),
        (b"[1, 2]", 400, "invalid_json"),
        (b'"a string"', 400, "invalid_json"),
        (json.dumps({"messages": GOOD["messages"]}).encode(), 400, "invalid_value"),
        (json.dumps({**GOOD, "messages": []}).encode(), 400, "invalid_value"),
        (json.dumps({**GOOD, "messages": "hi"}).encode(), 400, "invalid_value"),
        (json.dumps({**GOOD, "temperature": "hot"}).encode(), 400, "invalid_value"),
        (json.dumps({**GOOD, "temperature": 7}).encode(), 400, "invalid_value"),
        (json.dumps({**GOOD, "max_tokens": -1}).encode(), 400, "invalid_value"),
        (json.dumps({**GOOD, "n": 3}).encode(), 400, "invalid_value"),
        (json.dumps({**GOOD, "stop": ["a", "b", "c", "d", "e"]}).encode(), 400, "invalid_value"),
        (
            json.dumps({**GOOD, "messages": [{"role": "wizard", "content": "x"}]}).encode(),
            400,
            None,
        ),
        (json.dumps({**GOOD, "model": "no-such-model"}).encode(), 404, "model_not_found"),
        (json.dumps({**GOOD, "model": "auto:nonsense"}).encode(), 400, None),
        (json.dumps({**GOOD, "max_tokens": 10_000_000}).encode(), 400, "no_candidates"),
        (
            b'{"model":"auto","messages":[{"role":"user","content":"x"}],"temperature":1e999}',
            400,
            None,
        ),
        (b'{"model":"auto","messages":[{"role":"user","content":"x"}],"top_p":NaN}', 400, None),
        (b"[" * 2000 + b"]" * 2000, 400, "invalid_json"),
        (b"\xff\xfe\x00garbage", 400, "invalid_json"),
    ],
)
async def test_bad_bodies_get_clear_4xx(client, payload, status, code):
    response = await client.post("/v1/chat/completions", content=payload, headers=AUTH)
    error = _assert_openai_error(response, status, code)
    assert "Traceback" not in error["message"]


async def test_wrong_type_names_the_parameter(client):
    body = {**GOOD, "temperature": "hot"}
    error = _assert_openai_error(
        await client.post("/v1/chat/completions", json=body, headers=AUTH), 400
    )
    assert error["param"] == "temperature"


async def test_oversized_body_is_413_by_header_and_by_size(client):
    big = {**GOOD, "messages": [{"role": "user", "content": "x" * 10_000}]}
    response = await client.post("/v1/chat/completions", json=big, headers=AUTH)
    _assert_openai_error(response, 413, "payload_too_large")

    async def chunks():
        yield b'{"model": "auto", "messages": [{"role": "user", "content": "'
        for _ in range(10):
            yield b"y" * 1000
        yield b'"}]}'

    streamed = await client.post("/v1/chat/completions", content=chunks(), headers=AUTH)
    _assert_openai_error(streamed, 413, "payload_too_large")


@pytest.mark.parametrize(
    ("headers", "code"),
    [
        ({}, "missing_api_key"),
        ({"Authorization": "Basic abc"}, "missing_api_key"),
        ({"Authorization": "Bearer"}, "missing_api_key"),
        ({"Authorization": "Bearer wrong-key"}, "invalid_api_key"),
    ],
)
async def test_auth_failures_are_401(client, headers, code):
    response = await client.post("/v1/chat/completions", json=GOOD, headers=headers)
    error = _assert_openai_error(response, 401, code)
    assert error["type"] == "authentication_error"
    assert (await client.get("/v1/models", headers=headers)).status_code == 401


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/v1/multi-generate", "/v1/debates"])
async def test_every_post_route_checks_the_key_then_the_size_then_the_body(client, path):
    # Given a body that is too large and not JSON either
    oversized, malformed = b"{" * 5000, b'{"model":'
    # Then the key is judged first, the size second, the content last: one preamble for all
    _assert_openai_error(await client.post(path, content=oversized), 401, "missing_api_key")
    bad_key = {"Authorization": "Bearer wrong-key"}
    _assert_openai_error(await client.post(path, content=malformed, headers=bad_key), 401)
    _assert_openai_error(
        await client.post(path, content=oversized, headers=AUTH), 413, "payload_too_large"
    )
    _assert_openai_error(
        await client.post(path, content=malformed, headers=AUTH), 400, "invalid_json"
    )


async def test_unknown_routes_and_methods_answer_in_openai_shape(client):
    _assert_openai_error(await client.get("/v1/nothing-here", headers=AUTH), 404)
    _assert_openai_error(await client.get("/v1/chat/completions", headers=AUTH), 405)


async def test_health_needs_no_key_and_leaks_nothing(client):
    response = await client.get("/health")
    assert response.status_code == 200
    assert KEY not in response.text and response.json()["simulator"] is True


async def test_unexpected_failures_are_a_500_without_internals():
    app = _app()

    async def explode(*_: Any, **__: Any) -> None:
        raise RuntimeError("secret internals /etc/passwd")

    app.state.services.gateway.generate = explode
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://gw") as c:
        response = await c.post("/v1/chat/completions", json=GOOD, headers=AUTH)
    error = _assert_openai_error(response, 500, "internal_error")
    assert "internals" not in error["message"]


async def test_provider_keys_in_upstream_messages_are_redacted():
    from orchestra.errors import ProviderBadRequest

    secret = "sk-live-SECRETSECRET1234"
    config = Settings(api_keys=KEY, simulator_latency_scale=0.0)
    services = build_services(config, {})
    services.redactor = type(services.redactor)([secret])
    app = create_app(services)

    async def leak(*_: Any, **__: Any) -> None:
        raise ProviderBadRequest(
            f"bad key {secret} and sk-proj-abcdefghijklmnop", provider="p", model="m"
        )

    services.gateway.generate = leak  # type: ignore[method-assign]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw") as c:
        response = await c.post("/v1/chat/completions", json=GOOD, headers=AUTH)
    assert response.status_code == 400
    assert secret not in response.text and "sk-proj-abcdefghijklmnop" not in response.text
    assert "[REDACTED]" in response.text


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=20,
)
chat_like = st.fixed_dictionaries(
    {},
    optional={
        "model": st.sampled_from(["auto", "auto:budget", "simulator/sim-small", "x", ""])
        | json_values,
        "messages": st.lists(
            st.fixed_dictionaries(
                {
                    "role": st.sampled_from(["user", "system", "assistant", "tool", "bogus"])
                    | json_values
                },
                optional={"content": st.text(max_size=50) | json_values},
            ),
            max_size=3,
        )
        | json_values,
        "temperature": json_values,
        "max_tokens": json_values,
        "stop": json_values,
        "stream": st.booleans() | json_values,
        "tools": json_values,
        "fallbacks": json_values,
    },
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(body=chat_like)
async def test_fuzzed_bodies_never_produce_a_5xx(body):
    transport = httpx.ASGITransport(app=_FUZZ_APP, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://gw") as c:
        response = await c.post("/v1/chat/completions", json=body, headers=AUTH)
    assert response.status_code < 500, (body, response.text)
    if response.status_code >= 400:
        _assert_openai_error(response, response.status_code)


_FUZZ_APP = _app()
