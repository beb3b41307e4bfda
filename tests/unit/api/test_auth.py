"""Who the caller is: a key's id (never the key), admins, the authorizer's principalId."""

from __future__ import annotations

import pytest

from orchestra.api.auth import ApiKeyAuth, event_principal, gateway_principal, key_id_of
from orchestra.aws_lambda.events import scope_and_body
from orchestra.caller import Principal
from orchestra.compose.core import client_auth
from orchestra.config import Settings
from orchestra.errors import Unauthorized


async def test_configured_keys_are_named_by_a_digest_and_admin_keys_are_admins() -> None:
    auth = client_auth(Settings(api_keys="sk-one,sk-two", admin_keys="sk-root"))
    one = await auth.check("Bearer sk-one")
    root = await auth.check("Bearer sk-root")
    assert one == Principal(key_id_of("sk-one"))
    assert one.key_id.startswith("key-") and len(one.key_id) == 12 and "sk-one" not in one.key_id
    assert root.admin and root.key_id.startswith("admin-")
    assert (await auth.check("Bearer sk-two")).key_id != one.key_id
    with pytest.raises(Unauthorized):
        await auth.check("Bearer sk-three")


async def test_admin_keys_alone_close_open_access() -> None:
    auth = client_auth(Settings(admin_keys="sk-root"))
    assert not auth.open_access
    with pytest.raises(Unauthorized):
        await auth.check(None)


async def test_open_access_is_anonymous() -> None:
    assert await client_auth(Settings()).check(None) == Principal("anonymous")


async def test_a_client_keys_secret_names_its_keys() -> None:
    async def load() -> dict[str, str]:
        return {"ci-bot": "sk-ci", "analytics": "sk-an"}

    auth = ApiKeyAuth(loader=load)
    assert await auth.check("Bearer sk-an") == Principal("analytics")


def _rest_event(principal: str | None) -> dict:
    context: dict = {"requestId": "r", "stage": "v1", "identity": {"sourceIp": "1.2.3.4"}}
    if principal is not None:
        context["authorizer"] = {"principalId": principal, "client": principal}
    return {
        "resource": "/v1/chat/completions",
        "path": "/v1/chat/completions",
        "httpMethod": "POST",
        "headers": {"authorization": "Bearer sk-x"},
        "multiValueHeaders": {},
        "queryStringParameters": None,
        "body": "{}",
        "isBase64Encoded": False,
        "requestContext": context,
    }


def test_the_authorizers_principal_rides_into_the_asgi_scope() -> None:
    scope, _ = scope_and_body(_rest_event("ci-bot"), None)
    assert gateway_principal(scope) == "ci-bot"
    scope, _ = scope_and_body(_rest_event(None), None)
    assert gateway_principal(scope) is None


def test_http_api_lambda_authorizer_context() -> None:
    event = {"requestContext": {"authorizer": {"lambda": {"principalId": "ci-bot"}}}}
    assert event_principal(event) == "ci-bot"
    assert event_principal({"requestContext": {"authorizer": {"jwt": {}}}}) is None
    assert event_principal("not an event") is None
    # Mangum's buffered way keeps the event in the scope: the principal is read from it
    assert gateway_principal({"aws.event": _rest_event("analytics")}) == "analytics"


async def test_behind_the_gateway_the_principal_is_the_authorizers() -> None:
    auth = client_auth(Settings(mode="aws", trust_gateway_auth=True))
    assert await auth.check(None, "ci-bot") == Principal("ci-bot")
    assert await auth.check(None, None) == Principal("anonymous")
    # a trusted deployment never takes an id from a local key list
    assert await auth.check("Bearer whatever") == Principal("anonymous")
