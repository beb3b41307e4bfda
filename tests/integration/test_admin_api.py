"""The admin API and spend as ``orchestra serve`` builds them (``build_services``, every
route), beside the gateway's own routes; and the admin function's root."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest

from orchestra.api.app import create_app
from orchestra.compose import ROOTS, build_services, root
from orchestra.compose.admin import build_admin
from orchestra.compose.core import Stores
from orchestra.config import Settings
from orchestra.governance.protocols import SpendRow

from support.policies import admin_stores

ADMIN, CLIENT = "sk-admin-serve-0123456789", "sk-client-serve-0123456789"
TODAY = datetime.now(UTC).date().isoformat()


@pytest.fixture
def stores() -> Stores:
    return admin_stores()


@pytest.fixture
async def served(stores: Stores) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(api_keys=f"{ADMIN},{CLIENT}", admin_keys=ADMIN, simulator=True)
    services = build_services(settings, {}, stores=stores)
    transport = httpx.ASGITransport(app=create_app(services))
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
        yield client
    await services.aclose()


async def test_serve_has_the_admin_api_and_spend_beside_chat(
    served: httpx.AsyncClient, stores: Stores
) -> None:
    admin = {"authorization": f"Bearer {ADMIN}"}
    # Given a team and a key made through the admin API of the served gateway
    assert (await served.put("/v1/admin/teams/data", json={"rpm": 10}, headers=admin)).is_success
    body = {"key_id": "ci", "team": "data", "budget_month_usd": 50}
    created = await served.post("/v1/admin/keys", json=body, headers=admin)
    assert created.status_code == 201
    # and spend the metering recorded (one settled call)
    assert stores.spend is not None
    await stores.spend.add(SpendRow(TODAY, "ci", "data", "sim-model", 42_000, 1, 30, 12))
    # When the admin reads spend by team, Then it is there, and chat still answers
    report = (await served.get("/v1/spend?group_by=team", headers=admin)).json()
    assert [(g["group"], g["cost_nanos"]) for g in report["data"]] == [("data", 42_000)]
    chat = await served.post(
        "/v1/chat/completions",
        json={"model": "auto", "messages": [{"role": "user", "content": "hi"}]},
        headers={"authorization": f"Bearer {CLIENT}"},
    )
    assert chat.status_code == 200
    # and a client key may not administer
    refused = await served.get("/v1/admin/keys", headers={"authorization": f"Bearer {CLIENT}"})
    assert refused.status_code == 403


def test_the_admin_function_root_calls_no_model(stores: Stores) -> None:
    assert ROOTS["admin"] == "orchestra.compose.admin:build_admin"
    assert root("admin") is build_admin
    services = build_admin(Settings(), {}, stores=stores)
    assert services.gateway is None and services.registry.names() == set()
    assert services.admin is not None and services.spend is not None
    assert services.admin.store is stores.policies  # one store per process, shared
