"""The caller's identity: a short digest of the presented key, set by the routes' preamble."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

from starlette.requests import Request

from orchestra.api.auth import ApiKeyAuth, key_id_of
from orchestra.api.deps import authorized
from orchestra.caller import ANONYMOUS, current_caller, current_principal, digest


def test_digest_is_short_stable_and_not_the_key():
    key = "Bearer sk-live-0123456789abcdef"
    assert digest(key) == digest(key) and len(digest(key)) == 16
    assert "0123456789" not in digest(key)
    assert digest("Bearer another") != digest(key)
    assert digest(None) == digest("") == ANONYMOUS


def _request(headers: list[tuple[bytes, bytes]]) -> Request:
    services = SimpleNamespace(auth=ApiKeyAuth(frozenset({"k1"})), governor=None)
    app = SimpleNamespace(state=SimpleNamespace(services=services))
    scope = {
        "type": "http",
        "method": "GET",
        "path": "/v1/models",
        "headers": headers,
        "query_string": b"",
        "app": app,
    }
    return Request(scope)


async def _caller_after_preamble(request: Request) -> str:
    await authorized(request)
    return current_caller()


async def test_the_preamble_names_the_caller_by_its_key_however_it_is_sent():
    # Given the same key sent as a Bearer token and as x-api-key
    bearer = _request([(b"authorization", b"Bearer k1")])
    x_api_key = _request([(b"x-api-key", b"k1")])
    # When each passes the preamble (each request in its own task and context, as served)
    first = await asyncio.create_task(_caller_after_preamble(bearer))
    second = await asyncio.create_task(_caller_after_preamble(x_api_key))
    # Then both name one caller, by digest
    assert first == second == digest("Bearer k1")
    assert current_caller() == ANONYMOUS  # nothing leaked into this context


async def test_the_preamble_names_the_principal_on_the_request_and_in_the_context():
    request = _request([(b"authorization", b"Bearer k1")])

    async def after_preamble() -> str:
        await authorized(request)
        return current_principal().key_id

    assert await asyncio.create_task(after_preamble()) == key_id_of("k1")
    assert request.state.principal.key_id == key_id_of("k1")
    assert current_principal().key_id == ANONYMOUS
