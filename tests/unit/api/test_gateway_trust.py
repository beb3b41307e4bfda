"""Behind API Gateway's authorizer the app trusts it: no second key check, no secret read."""

from __future__ import annotations

import pytest

from orchestra.compose.core import client_auth
from orchestra.config import Settings, env_name


async def test_trusting_the_gateway_reads_no_client_keys() -> None:
    settings = Settings(mode="aws", api_keys_secret="arn:never-read", trust_gateway_auth=True)
    auth = client_auth(settings)
    assert auth.open_access
    await auth.check(None)  # the authorizer already refused anything without a key


async def test_without_it_aws_mode_checks_keys_itself() -> None:
    auth = client_auth(Settings(mode="aws", api_keys="k1"))
    assert not auth.open_access


def test_env_names_come_from_the_settings() -> None:
    assert env_name("trust_gateway_auth") == "ORCHESTRA_TRUST_GATEWAY_AUTH"
    assert env_name("api_keys_secret") == "ORCHESTRA_API_KEYS_SECRET"
    with pytest.raises(KeyError):
        env_name("no_such_setting")
