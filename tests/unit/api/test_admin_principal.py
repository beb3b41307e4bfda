"""Who the admin routes think is calling: the principal ``api/deps`` sets on the request
when there is one, else the presented key; and the local issuer's keys."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from starlette.requests import Request

from orchestra.api.routes.admin import principal_of
from orchestra.compose.admin import build_admin
from orchestra.compose.core import Stores
from orchestra.compose.services import Services
from orchestra.config import Settings
from orchestra.errors import InvalidRequest, Unauthorized
from orchestra.governance.issuer import KEY_PREFIX, LocalKeyIssuer
from orchestra.storage.memory import MemoryBreakerBackend, MemoryMetricsBackend

from support.policies import FakePolicyStore


@dataclass(frozen=True)
class Principal:
    key_id: str
    admin: bool = False


def _request(token: str | None = None, principal: Principal | None = None) -> Request:
    headers = [(b"authorization", f"Bearer {token}".encode())] if token else []
    state = {"principal": principal} if principal else {}
    return Request({"type": "http", "path": "/v1/admin/keys", "headers": headers, "state": state})


@pytest.fixture
def issuer() -> LocalKeyIssuer:
    return LocalKeyIssuer()


@pytest.fixture
def services(issuer: LocalKeyIssuer) -> Services:
    stores = Stores(
        MemoryBreakerBackend(), MemoryMetricsBackend(), policies=FakePolicyStore(), issuer=issuer
    )
    return build_admin(Settings(admin_keys="sk-admin-0123456789"), {}, stores=stores)


async def test_the_principal_set_by_the_key_check_wins(services: Services) -> None:
    # Given the key check named the caller, Then that is who calls, whatever the header
    set_by_auth = Principal("ops", admin=True)
    found = await principal_of(_request("sk-admin-0123456789", set_by_auth), services)
    assert found is set_by_auth


async def test_without_one_the_key_names_the_caller(
    services: Services, issuer: LocalKeyIssuer
) -> None:
    admin = await principal_of(_request("sk-admin-0123456789"), services)
    assert admin.admin and admin.key_id.startswith("admin-") and len(admin.key_id) == 14
    issued = await issuer.issue("ci-bot")
    named = await principal_of(_request(issued), services)
    assert (named.key_id, named.admin) == ("ci-bot", False)
    other = await principal_of(_request("sk-some-client-key"), services)
    assert other.key_id.startswith("key-") and not other.admin
    with pytest.raises(Unauthorized):
        await principal_of(_request(), services)


async def test_local_keys_are_issued_once_and_revoked(issuer: LocalKeyIssuer) -> None:
    key = await issuer.issue("ci")
    assert key.startswith(KEY_PREFIX) and len(key) > 40
    assert await issuer.load() == {"ci": key}
    with pytest.raises(InvalidRequest) as taken:
        await issuer.issue("ci")
    assert (taken.value.status, taken.value.code) == (409, "key_exists")
    assert await issuer.revoke("ci") is True and await issuer.revoke("ci") is False
    assert await issuer.load() == {}
