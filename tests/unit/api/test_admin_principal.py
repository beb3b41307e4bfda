"""Who the admin function thinks is calling (its key check's principal, which the admin
routes read from the request), and the local issuer's keys."""

from __future__ import annotations

import pytest

from orchestra.compose.admin import build_admin
from orchestra.compose.core import Stores
from orchestra.compose.services import Services
from orchestra.config import Settings
from orchestra.errors import InvalidRequest, Unauthorized
from orchestra.governance.issuer import KEY_PREFIX, LocalKeyIssuer
from orchestra.storage.memory import MemoryBreakerBackend, MemoryMetricsBackend

from support.policies import FakePolicyStore


@pytest.fixture
def issuer() -> LocalKeyIssuer:
    return LocalKeyIssuer()


@pytest.fixture
def services(issuer: LocalKeyIssuer) -> Services:
    stores = Stores(
        MemoryBreakerBackend(), MemoryMetricsBackend(), policies=FakePolicyStore(), issuer=issuer
    )
    settings = Settings(admin_keys="sk-admin-0123456789", api_keys="sk-some-client-key")
    return build_admin(settings, {}, stores=stores)


async def test_the_key_names_the_caller(services: Services, issuer: LocalKeyIssuer) -> None:
    # the admin function's key check: an admin key, a key the local issuer made (by its
    # name), any other accepted key (by its digest); no key is a 401
    admin = await services.auth.check("Bearer sk-admin-0123456789")
    assert admin.admin and admin.key_id.startswith("admin-") and len(admin.key_id) == 14
    issued = await issuer.issue("ci-bot")
    named = await services.auth.check(f"Bearer {issued}")
    assert (named.key_id, named.admin) == ("ci-bot", False)
    other = await services.auth.check("Bearer sk-some-client-key")
    assert other.key_id.startswith("key-") and not other.admin
    with pytest.raises(Unauthorized):
        await services.auth.check(None)


async def test_local_keys_are_issued_once_and_revoked(issuer: LocalKeyIssuer) -> None:
    key = await issuer.issue("ci")
    assert key.startswith(KEY_PREFIX) and len(key) > 40
    assert await issuer.load() == {"ci": key}
    with pytest.raises(InvalidRequest) as taken:
        await issuer.issue("ci")
    assert (taken.value.status, taken.value.code) == (409, "key_exists")
    assert await issuer.revoke("ci") is True and await issuer.revoke("ci") is False
    assert await issuer.load() == {}
